//! Storing a response while it streams to the client: a body wrapper that
//! copies the bytes it forwards and writes the object once the body has
//! ended complete. A body that errors, runs past the size limit or does not
//! match its Content-Length is never stored.

use super::timed_body::TimedBody;
use crate::http_cache::cached_response::{CachedResponse, StoredMeta};
use crate::server::body::BoxError;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use storage::{ObjectKey, Store, StoredObject};

/// What to write once the body is complete.
pub struct FillPlan {
    /// The store.
    pub store: Store,
    /// Key for the response.
    pub key: ObjectKey,
    /// For a Vary response: the primary key and the selecting field names.
    pub vary_index: Option<(ObjectKey, Vec<String>)>,
    /// The response's metadata.
    pub meta: CachedResponse,
    /// Largest body to store.
    pub limit: usize,
    /// Content-Length the origin declared, if any.
    pub expected_len: Option<u64>,
}

impl FillPlan {
    fn commit(self, body: Bytes) {
        if self.expected_len.is_some_and(|n| n != body.len() as u64) {
            tracing::warn!("origin body length differs from Content-Length; not stored");
            return;
        }
        if let Some((primary, names)) = self.vary_index {
            self.store.put(
                primary,
                StoredObject::new(StoredMeta::VaryIndex(names).encode().into(), Bytes::new()),
            );
        }
        let meta = StoredMeta::Response(self.meta).encode();
        self.store
            .put(self.key, StoredObject::new(meta.into(), body));
    }
}

/// The origin's body, copied into the store as it is forwarded.
pub struct FillBody {
    inner: TimedBody,
    buf: BytesMut,
    plan: Option<FillPlan>,
}

impl FillBody {
    /// Wrap `inner`; `plan` is carried out when it ends complete.
    pub fn new(inner: TimedBody, plan: FillPlan) -> Self {
        let mut b = FillBody {
            inner,
            buf: BytesMut::new(),
            plan: Some(plan),
        };
        if b.inner.is_end_stream() {
            b.finish();
        }
        b
    }

    fn finish(&mut self) {
        if let Some(plan) = self.plan.take() {
            plan.commit(self.buf.split().freeze());
        }
    }
}

impl Body for FillBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let (Some(data), Some(plan)) = (frame.data_ref(), this.plan.as_ref()) {
                    if this.buf.len() + data.len() > plan.limit {
                        tracing::debug!("body exceeds max_object_bytes; streaming without storing");
                        this.plan = None;
                        this.buf = BytesMut::new();
                    } else {
                        this.buf.extend_from_slice(data);
                    }
                }
                if this.inner.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                this.plan = None;
                this.buf = BytesMut::new();
                Poll::Ready(Some(Err(e)))
            }
            None => {
                this.finish();
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.plan.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
