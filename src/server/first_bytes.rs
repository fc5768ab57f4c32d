//! The first bytes of a connection: wait (under the caller's timeout) for
//! the first byte, and for the whole HTTP/2 preface when the bytes start
//! like it, then pick the protocol. hyper-util's own sniffing has no
//! timeout, so a socket that sends nothing or half a preface would live
//! forever. The bytes read are replayed to hyper by [`Prefixed`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.x.
    Http1,
    /// HTTP/2 with prior knowledge (h2c).
    Http2,
}

/// Bytes read before the protocol was known.
#[derive(Clone, Copy, Debug)]
pub struct Prefix {
    bytes: [u8; 24],
    len: usize,
}

/// Read until the protocol is known. `Ok(None)`: the client closed first.
pub async fn sniff<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Option<(Protocol, Prefix)>> {
    let mut p = Prefix {
        bytes: [0; 24],
        len: 0,
    };
    loop {
        let n = io.read(&mut p.bytes[p.len..]).await?;
        if n == 0 {
            return Ok(None);
        }
        p.len += n;
        if p.bytes[..p.len] != H2_PREFACE[..p.len] {
            return Ok(Some((Protocol::Http1, p)));
        }
        if p.len == H2_PREFACE.len() {
            return Ok(Some((Protocol::Http2, p)));
        }
    }
}

/// An IO that first replays a [`Prefix`].
#[derive(Debug)]
pub struct Prefixed<T> {
    prefix: Prefix,
    pos: usize,
    inner: T,
}

// === impl Prefixed ===

impl<T> Prefixed<T> {
    /// `inner`, read after `prefix`.
    pub fn new(prefix: Prefix, inner: T) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len {
            let rest = &this.prefix.bytes[this.pos..this.prefix.len];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

crate::write_through::write_through!(Prefixed);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_preface_is_http2_and_anything_else_http1() {
        let mut h2 = &H2_PREFACE[..];
        let (p, _) = sniff(&mut h2).await.expect("read").expect("bytes");
        assert_eq!(p, Protocol::Http2);
        let mut h1 = &b"PRI / HTTP/1.1\r\n\r\n"[..];
        let (p, prefix) = sniff(&mut h1).await.expect("read").expect("bytes");
        assert_eq!(p, Protocol::Http1);
        let mut replay = Prefixed::new(prefix, h1);
        let mut all = Vec::new();
        replay.read_to_end(&mut all).await.expect("replay");
        assert_eq!(all, b"PRI / HTTP/1.1\r\n\r\n");
        let mut half = &H2_PREFACE[..10];
        assert!(sniff(&mut half).await.expect("read").is_none());
    }
}
