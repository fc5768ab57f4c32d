//! The IO wrapper that enforces strict HTTP/1.1 framing before hyper reads
//! a byte (see [`super::h1_framing`]).
//!
//! On a violation in a request head, the bytes before the offending one are
//! passed on, followed by a NUL and the end of a head: hyper's parser
//! refuses a NUL wherever it appears, so hyper itself answers 400 with
//! `Connection: close`, after any earlier pipelined responses, and closes.
//! On a violation in a chunked body the same bytes reach hyper, whose
//! decoder fails at the same byte; the request's number is recorded in
//! [`ConnFraming`] so the service answers 400 instead of the 502 the proxy
//! gives for a failed request body.
//!
//! Once the service has answered 101 (a WebSocket switch), the bytes that
//! follow are the tunnel's, not HTTP: the tracker stops and every byte
//! passes as read.

use super::h1_framing::{FramingTracker, TrailerLimits};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, ReadBuf};

/// What hyper reads after a head violation: a byte no parser state accepts.
const POISON: &[u8] = b"\0\r\n\r\n";

/// Framing state one connection shares between its IO and its service.
#[derive(Debug, Default)]
pub struct ConnFraming {
    /// Number (1-based) of the request whose body broke chunked framing; 0: none.
    bad_body: AtomicU64,
    /// Requests handed to the service so far.
    served: AtomicU64,
    /// The service switched protocols: no more HTTP on this connection.
    switched: AtomicBool,
}

// === impl ConnFraming ===

impl ConnFraming {
    /// Called by the service for each request, in order; returns its number.
    pub fn next_request(&self) -> u64 {
        self.served.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether request number `n` had a malformed chunked body.
    pub fn body_was_malformed(&self, n: u64) -> bool {
        self.bad_body.load(Ordering::Acquire) == n
    }

    /// The service answered 101: what follows on the connection is not
    /// HTTP and passes unchecked. Called before hyper writes the 101, so
    /// before a client that waits for it sends a byte of the new protocol.
    pub fn switch_protocols(&self) {
        self.switched.store(true, Ordering::Release);
    }
}

/// An HTTP/1.1 connection's read side, checked by a [`FramingTracker`].
#[derive(Debug)]
pub struct StrictH1<T> {
    inner: T,
    tracker: FramingTracker,
    shared: std::sync::Arc<ConnFraming>,
    /// After a head violation: how much of [`POISON`] hyper has read.
    poisoned: Option<usize>,
}

// === impl StrictH1 ===

impl<T> StrictH1<T> {
    /// Wrap a fresh HTTP/1.1 connection.
    pub fn new(inner: T, limits: TrailerLimits, shared: std::sync::Arc<ConnFraming>) -> Self {
        StrictH1 {
            inner,
            tracker: FramingTracker::new(limits),
            shared,
            poisoned: None,
        }
    }

    fn put_poison(&mut self, buf: &mut ReadBuf<'_>) {
        if let Some(sent) = self.poisoned {
            let rest = &POISON[sent..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.poisoned = Some(sent + n);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StrictH1<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.poisoned.is_some() {
            // The poison, then end of stream.
            this.put_poison(buf);
            return Poll::Ready(Ok(()));
        }
        if this.shared.switched.load(Ordering::Acquire) {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let Err(v) = this.tracker.scan(&buf.filled()[before..]) else {
            return Poll::Ready(Ok(()));
        };
        tracing::debug!(reason = v.reason, "malformed HTTP/1.1 request framing");
        if v.in_body {
            this.shared
                .bad_body
                .store(this.tracker.heads(), Ordering::Release);
        } else {
            buf.set_filled(before + v.at);
            this.poisoned = Some(0);
            this.put_poison(buf);
        }
        Poll::Ready(Ok(()))
    }
}

crate::write_through::write_through!(StrictH1);

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    /// After a 101 the bytes are another protocol's: a NUL and a bare LF,
    /// which would poison an HTTP head, pass as sent.
    #[tokio::test]
    async fn after_a_switch_bytes_pass_unchecked() {
        let bytes: &[u8] = b"GET / HTTP/1.1\nHost: a\r\n\0\r\n\r\n";
        let limits = TrailerLimits {
            max_bytes: 1024,
            max_fields: 10,
        };
        for switched in [false, true] {
            let shared = Arc::new(ConnFraming::default());
            if switched {
                shared.switch_protocols();
            }
            let mut io = StrictH1::new(bytes, limits, shared);
            let mut out = Vec::new();
            io.read_to_end(&mut out).await.expect("read");
            assert_eq!(out == bytes, switched, "switched: {switched}: {out:?}");
        }
    }
}
