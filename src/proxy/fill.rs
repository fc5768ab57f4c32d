//! Storing a response while it streams to the client: a body wrapper that
//! copies the bytes it forwards and writes the object once the body has
//! ended complete. A body that errors, runs past the size limit or does not
//! match its Content-Length is never stored.
//!
//! Bodies up to `chunk_bytes` are buffered and stored in one entry; longer
//! ones are handed to the store chunk by chunk as they stream (so a 2 GiB
//! body never sits in memory whole), and the object appears only when its
//! manifest is written at the end.

use super::variants::Listed;
use crate::body::BoxError;
use crate::http_cache::cached_response::{CachedResponse, StoredMeta, VaryIndex};
use crate::upstream::timed_body::TimedBody;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use storage::{ChunkWriter, ObjectKey, Store, StoredObject};

/// What to write once the body is complete.
pub struct FillPlan {
    /// The store.
    pub store: Store,
    /// Key for the response.
    pub key: ObjectKey,
    /// For a Vary response: the primary key and the selecting field names.
    pub vary_index: Option<(ObjectKey, Vec<String>)>,
    /// Most variants kept per URL, and the count of those evicted for it.
    pub variant_cap: (usize, prometheus_client::metrics::counter::Counter),
    /// The response's metadata.
    pub meta: CachedResponse,
    /// Largest body to store.
    pub limit: u64,
    /// Bodies longer than this are stored in chunks of this size.
    pub chunk_bytes: usize,
    /// Content-Length the origin declared, if any.
    pub expected_len: Option<u64>,
}

/// The body copied so far.
enum Copy {
    /// Buffered, to be stored in one entry.
    Buffered(BytesMut),
    /// Handed to the store chunk by chunk.
    Chunked(ChunkWriter),
}

impl Copy {
    fn len(&self) -> u64 {
        match self {
            Copy::Buffered(b) => b.len() as u64,
            Copy::Chunked(w) => w.len(),
        }
    }
}

impl FillPlan {
    fn commit(self, body: Copy) {
        if self.expected_len.is_some_and(|n| n != body.len()) {
            tracing::warn!("origin body length differs from Content-Length; not stored");
            return;
        }
        let meta: Bytes = StoredMeta::Response(self.meta).encode().into();
        let stored = match body {
            Copy::Buffered(b) => self
                .store
                .put(self.key, StoredObject::new(meta, b.freeze())),
            Copy::Chunked(w) => w.finish(meta),
        };
        if !stored {
            tracing::debug!("the object could not be stored (too large, or a chunk failed)");
            return;
        }
        if let Some((primary, names)) = self.vary_index {
            // The URL's first variant: its index is written now, so the next
            // request finds it; the listing below is then a no-op.
            if !self.store.contains(&primary) {
                let index = VaryIndex {
                    names: names.clone(),
                    variants: vec![self.key],
                };
                let meta = StoredMeta::VaryIndex(index).encode().into();
                self.store
                    .put(primary, StoredObject::new(meta, Bytes::new()));
            }
            let (cap, evicted) = self.variant_cap;
            Listed {
                store: self.store,
                primary,
                names,
                variant: self.key,
                cap,
                evicted,
            }
            .spawn();
        }
    }
}

/// The origin's body, copied into the store as it is forwarded.
pub struct FillBody {
    inner: TimedBody,
    copy: Option<Copy>,
    plan: Option<FillPlan>,
    /// A wait for the disk tier to take queued chunks before reading on.
    flushing: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl FillBody {
    /// Wrap `inner`; `plan` is carried out when it ends complete.
    pub fn new(inner: TimedBody, plan: FillPlan) -> Self {
        let mut b = FillBody {
            inner,
            copy: Some(Copy::Buffered(BytesMut::new())),
            plan: Some(plan),
            flushing: None,
        };
        if b.inner.is_end_stream() {
            b.finish();
        }
        b
    }

    fn finish(&mut self) {
        if let (Some(plan), Some(copy)) = (self.plan.take(), self.copy.take()) {
            plan.commit(copy);
        }
    }

    /// Stop storing: the rest streams through only.
    fn abandon(&mut self) {
        self.plan = None;
        self.copy = None;
    }

    /// Copy `data` for the store; false when the body turned out too large.
    fn copy(&mut self, data: &[u8]) -> bool {
        let (Some(plan), Some(copy)) = (self.plan.as_ref(), self.copy.as_mut()) else {
            return true;
        };
        if copy.len() + data.len() as u64 > plan.limit {
            return false;
        }
        let flush = match copy {
            Copy::Buffered(buf) if buf.len() + data.len() > plan.chunk_bytes => {
                let mut w = plan.store.chunk_writer(plan.key, plan.chunk_bytes as u32);
                let flush = w.push(buf) | w.push(data);
                *copy = Copy::Chunked(w);
                flush
            }
            Copy::Buffered(buf) => {
                buf.extend_from_slice(data);
                false
            }
            Copy::Chunked(w) => w.push(data),
        };
        if flush {
            // Back-pressure: read no further from the origin until the disk
            // tier has taken the queued chunks.
            let store = plan.store.clone();
            self.flushing = Some(Box::pin(async move { store.flush().await }));
        }
        true
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
        if let Some(f) = this.flushing.as_mut() {
            ready!(f.as_mut().poll(cx));
            this.flushing = None;
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref()
                    && !this.copy(data)
                {
                    tracing::debug!("body exceeds max_object_bytes; streaming without storing");
                    this.abandon();
                }
                if this.inner.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                this.abandon();
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
