//! The HTTP/2 idle timeout: a connection with no request in flight (no
//! stream whose service or response body is still running) for the
//! configured time is closed with GOAWAY. hyper has keep-alive PINGs for
//! dead peers but nothing for live, idle ones.

use crate::clock;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Requests in flight on one HTTP/2 connection.
#[derive(Debug)]
pub struct StreamCount {
    active: AtomicUsize,
    /// Milliseconds after `opened` when the count last dropped to zero.
    idle_since_ms: AtomicU64,
    opened: Instant,
    became_idle: Notify,
}

/// One request in flight; dropped when its response body ends or is dropped.
#[derive(Debug)]
pub struct StreamGuard(Arc<StreamCount>);

// === impl StreamCount ===

impl StreamCount {
    /// A fresh connection: idle from now.
    pub fn new() -> Arc<Self> {
        Arc::new(StreamCount {
            active: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            opened: clock::timer_now(),
            became_idle: Notify::new(),
        })
    }

    /// Count a request until the guard drops.
    pub fn start(self: &Arc<Self>) -> StreamGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        StreamGuard(self.clone())
    }

    fn elapsed_ms(&self) -> u64 {
        let d = clock::timer_now().saturating_duration_since(self.opened);
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    /// Resolves once no request has been in flight for `timeout`.
    pub async fn idle_for(&self, timeout: Duration) {
        loop {
            let woken = self.became_idle.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.active.load(Ordering::Acquire) > 0 {
                woken.await;
                continue;
            }
            let since = self.idle_since_ms.load(Ordering::Acquire);
            let deadline = self.opened + Duration::from_millis(since) + timeout;
            tokio::time::sleep_until(deadline).await;
            if self.active.load(Ordering::Acquire) == 0
                && self.idle_since_ms.load(Ordering::Acquire) == since
            {
                return;
            }
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let count = &self.0;
        if count.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            count
                .idle_since_ms
                .store(count.elapsed_ms(), Ordering::Release);
            count.became_idle.notify_one();
        }
    }
}

/// A response body that keeps its request counted until it ends.
#[derive(Debug)]
pub struct CountedBody<B> {
    inner: B,
    guard: Option<StreamGuard>,
}

impl<B> CountedBody<B> {
    /// `inner`, counted by `guard` until it ends or is dropped.
    pub fn new(inner: B, guard: StreamGuard) -> Self {
        CountedBody {
            inner,
            guard: Some(guard),
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for CountedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None) = r {
            this.guard = None;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_only_after_the_last_request_ends_plus_the_timeout() {
        let count = StreamCount::new();
        let guard = count.start();
        let idle = count.idle_for(Duration::from_millis(20));
        tokio::pin!(idle);
        tokio::select! {
            () = &mut idle => panic!("idle while a request is in flight"),
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        drop(guard);
        tokio::time::timeout(Duration::from_secs(30), idle)
            .await
            .expect("idle once the request ended");
    }
}
