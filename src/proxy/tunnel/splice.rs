//! The byte tunnel: client and origin bytes copied both ways through
//! bounded buffers (a slow reader on either side stops reads from the
//! other; nothing queues without bound) until both sides close, either
//! fails, no byte moves for the idle timeout, or the node drains.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Buffer per direction.
const BUF_BYTES: usize = 16 << 10;

/// How long a closing tunnel waits for each side to take its shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How a tunnel ended.
#[derive(Debug)]
pub enum End {
    /// Both sides closed: bytes sent client to origin, and back.
    Closed(u64, u64),
    /// A side failed (reset, send timeout).
    Failed(io::Error),
    /// No byte moved in either direction for the idle timeout.
    Idle,
    /// The node is draining.
    Drain,
}

impl End {
    /// The name used in logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            End::Closed(..) => "closed",
            End::Failed(_) => "failed",
            End::Idle => "idle",
            End::Drain => "drain",
        }
    }
}

/// Copy between `client` and `origin` until the tunnel ends; both are
/// shut down (briefly waited for) and dropped after.
pub async fn splice<A, B>(
    client: A,
    origin: B,
    idle: Duration,
    drain: impl Future<Output = ()>,
) -> End
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let moved = Arc::new(AtomicU64::new(0));
    let mut client = Counted::new(client, moved.clone());
    let mut origin = Counted::new(origin, moved.clone());
    let end = {
        let copy = tokio::io::copy_bidirectional_with_sizes(
            &mut client,
            &mut origin,
            BUF_BYTES,
            BUF_BYTES,
        );
        tokio::select! {
            r = copy => match r {
                Ok((up, down)) => End::Closed(up, down),
                Err(e) => End::Failed(e),
            },
            () = quiet_for(&moved, idle) => End::Idle,
            () = drain => End::Drain,
        }
    };
    if matches!(end, End::Idle | End::Drain) {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, client.shutdown()).await;
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, origin.shutdown()).await;
    }
    end
}

/// Resolves once `moved` has not changed for `idle`. It is checked four
/// times per `idle`, so it fires between `idle` and 1.25 × `idle` after
/// the last byte; the copy itself never reads the clock.
async fn quiet_for(moved: &AtomicU64, idle: Duration) {
    let tick = (idle / 4).max(Duration::from_millis(10));
    let mut seen = moved.load(Ordering::Relaxed);
    let mut quiet = Duration::ZERO;
    loop {
        tokio::time::sleep(tick).await;
        let now = moved.load(Ordering::Relaxed);
        if now == seen {
            quiet += tick;
            if quiet >= idle {
                return;
            }
        } else {
            seen = now;
            quiet = Duration::ZERO;
        }
    }
}

/// An IO that counts the bytes read from it into a shared counter (every
/// byte written to one side was read from the other).
struct Counted<T> {
    inner: T,
    moved: Arc<AtomicU64>,
}

impl<T> Counted<T> {
    fn new(inner: T, moved: Arc<AtomicU64>) -> Self {
        Counted { inner, moved }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let n = buf.filled().len() - before;
        if n > 0 {
            this.moved.fetch_add(n as u64, Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }
}

crate::write_through::write_through!(Counted);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn bytes_pass_both_ways_intact_until_both_sides_close() {
        let (client, mut client_peer) = tokio::io::duplex(64);
        let (origin, mut origin_peer) = tokio::io::duplex(64);
        let tunnel = tokio::spawn(splice(
            client,
            origin,
            Duration::from_secs(60),
            std::future::pending(),
        ));
        let frame = b"\x82\x12\r\n\r\nGET / HTTP/1.1\0\0";
        client_peer.write_all(frame).await.expect("write");
        let mut got = vec![0u8; frame.len()];
        origin_peer.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, frame);
        origin_peer.write_all(b"back").await.expect("write");
        let mut back = [0u8; 4];
        client_peer.read_exact(&mut back).await.expect("read");
        assert_eq!(&back, b"back");
        drop(client_peer);
        drop(origin_peer);
        let end = tunnel.await.expect("task");
        assert!(
            matches!(end, End::Closed(up, 4) if up == frame.len() as u64),
            "{end:?}"
        );
    }

    #[tokio::test]
    async fn a_quiet_tunnel_ends_idle_and_the_drain_ends_a_busy_one() {
        let (client, _client_peer) = tokio::io::duplex(64);
        let (origin, _origin_peer) = tokio::io::duplex(64);
        let end = tokio::time::timeout(
            Duration::from_secs(30),
            splice(
                client,
                origin,
                Duration::from_millis(40),
                std::future::pending(),
            ),
        )
        .await
        .expect("ends");
        assert!(matches!(end, End::Idle), "{end:?}");
        let (client, _client_peer) = tokio::io::duplex(64);
        let (origin, _origin_peer) = tokio::io::duplex(64);
        let end = splice(client, origin, Duration::from_secs(60), async {}).await;
        assert!(matches!(end, End::Drain), "{end:?}");
    }
}
