//! An origin body with an idle timeout (between body bytes) and a total
//! deadline for the whole exchange. When either fires the body ends with an
//! error: the client's response is cut (never silently truncated as if
//! complete), nothing is stored, and the timeout is counted.

use crate::body::BoxError;
use crate::clock;
use crate::upstream::conn_pool::Recycle;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// Counters of upstream timeouts, by kind.
#[derive(Default, Debug)]
pub struct TimeoutCounters {
    /// Connect or first-byte timeouts (answered 504 or stale).
    pub head: AtomicU64,
    /// No body bytes for `idle_timeout_ms`.
    pub idle: AtomicU64,
    /// The exchange exceeded `total_timeout_ms`.
    pub total: AtomicU64,
}

/// The origin's body under idle and total timeouts.
pub struct TimedBody {
    inner: Recycle,
    idle: Option<Duration>,
    deadline: Option<tokio::time::Instant>,
    /// Armed when the origin has nothing ready (a body that arrives without
    /// a wait never touches the timer wheel).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Waiting since the last frame: the timer is armed for this wait.
    waiting: bool,
    counters: Arc<TimeoutCounters>,
    failed: bool,
    /// The origin's concurrency slot, held until the body is done.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl TimedBody {
    /// Wrap `inner`; `deadline` is when the whole exchange must be done.
    pub fn new(
        inner: Recycle,
        idle: Option<Duration>,
        deadline: Option<tokio::time::Instant>,
        counters: Arc<TimeoutCounters>,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Self {
        TimedBody {
            inner,
            idle,
            deadline,
            timer: None,
            waiting: false,
            counters,
            failed: false,
            _permit: permit,
        }
    }

    /// The next instant something must have happened by.
    fn next_limit(&self) -> Option<tokio::time::Instant> {
        let idle = self.idle.map(|d| clock::timer_now() + d);
        match (idle, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn rearm(&mut self) {
        match (self.next_limit(), self.timer.as_mut()) {
            (Some(at), Some(t)) => t.as_mut().reset(at),
            (Some(at), None) => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            (None, _) => self.timer = None,
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                if !this.waiting {
                    // The idle gap starts now; the total deadline never moves.
                    this.waiting = true;
                    this.rearm();
                }
                let fired = this
                    .timer
                    .as_mut()
                    .is_some_and(|t| t.as_mut().poll(cx).is_ready());
                if !fired {
                    return Poll::Pending;
                }
                this.failed = true;
                let total = this.deadline.is_some_and(|d| clock::timer_now() >= d);
                let (counter, what) = if total {
                    (&this.counters.total, "total")
                } else {
                    (&this.counters.idle, "idle")
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    kind = what,
                    "origin body timed out; response cut, nothing stored"
                );
                Poll::Ready(Some(Err(format!("origin body {what} timeout").into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
