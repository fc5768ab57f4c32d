//! Serving a body stored in chunks: only the chunks a response needs are
//! read, each verified (blake3, by the store) before its bytes go out. A
//! chunk that has gone missing or is damaged mid-response ends the body with
//! an error, so the connection is cut short and the client never receives a
//! wrong byte; the object is removed so the next request refetches it.

use crate::body::{self, Body, BoxError};
use bytes::Bytes;
use http_body::Frame;
use http_body_util::StreamBody;
use std::sync::Arc;
use storage::{Manifest, ObjectKey, Store};

/// A body of bytes `first..=last` of the chunked object `key`.
pub fn range(store: Store, key: ObjectKey, manifest: Arc<Manifest>, first: u64, last: u64) -> Body {
    if manifest.len == 0 || first > last || last >= manifest.len {
        return body::empty();
    }
    let chunks = manifest.chunks_for(first, last);
    let state = (
        store,
        key,
        manifest,
        *chunks.start(),
        *chunks.end(),
        first,
        last,
    );
    let stream = futures_util::stream::unfold(Some(state), |state| async move {
        let (store, key, manifest, idx, end, first, last) = state?;
        if idx > end {
            return None;
        }
        let item: Result<Frame<Bytes>, BoxError> = match store
            .read_chunk(&key, &manifest, idx)
            .await
        {
            Some(chunk) => {
                let (start, len) = manifest.span(idx);
                let from = first.saturating_sub(start).min(len) as usize;
                let to = (last + 1 - start).min(len) as usize;
                Ok(Frame::data(chunk.slice(from..to)))
            }
            None => {
                tracing::warn!(key = ?key, chunk = idx, "stored chunk missing or damaged; cutting the response short");
                store.remove(&key);
                Err(format!("stored chunk {idx} missing or damaged").into())
            }
        };
        let next = item
            .is_ok()
            .then_some((store, key, manifest, idx + 1, end, first, last));
        Some((item, next))
    });
    body::boxed(StreamBody::new(stream))
}
