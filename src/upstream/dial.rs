//! Opening a transport to one origin server: TCP, then TLS for an
//! `https://` server, both under the connect timeout.

use crate::upstream::conn_pool::SendError;
use crate::upstream::origin_tls::TlsConnect;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream to an origin (plain TCP or TLS).
pub trait OriginIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> OriginIo for T {}

/// How to reach one origin server.
#[derive(Debug)]
pub struct Dialer {
    /// `host:port` to connect to.
    pub address: String,
    /// TLS settings for an `https://` server.
    pub tls: Option<TlsConnect>,
    /// Limit on the TCP connect and the TLS handshake together.
    pub timeout: Duration,
}

/// An open transport and whether ALPN chose h2 on it.
pub struct Opened {
    /// The stream.
    pub io: Box<dyn OriginIo>,
    /// TLS with ALPN `h2`.
    pub alpn_h2: bool,
}

impl Dialer {
    /// `http` or `https`.
    pub fn scheme(&self) -> http::uri::Scheme {
        if self.tls.is_some() {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        }
    }

    /// Open a connection within the connect timeout; over TLS, offer h2 in
    /// ALPN when `want_h2`.
    pub async fn open(&self, want_h2: bool) -> Result<Opened, SendError> {
        match tokio::time::timeout(self.timeout, self.open_unbounded(want_h2)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Connect(format!(
                "{}: timed out after {} ms",
                self.address,
                self.timeout.as_millis()
            ))),
        }
    }

    async fn open_unbounded(&self, want_h2: bool) -> Result<Opened, SendError> {
        let stream = tokio::net::TcpStream::connect(self.address.as_str())
            .await
            .map_err(|e| SendError::Connect(format!("{}: {e}", self.address)))?;
        let _ = stream.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Opened {
                io: Box::new(stream),
                alpn_h2: false,
            });
        };
        let (stream, alpn_h2) = tls
            .handshake(stream, want_h2)
            .await
            .map_err(|e| SendError::Tls(format!("{}: {e}", self.address)))?;
        Ok(Opened {
            io: Box::new(stream),
            alpn_h2,
        })
    }
}
