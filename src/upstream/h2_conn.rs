//! HTTP/2 to one origin server (h2c, or h2 over TLS chosen by ALPN): one
//! multiplexed connection shared by every concurrent request, opened on
//! demand under the connect timeout and opened again once it has closed.

use crate::body::Body;
use crate::upstream::conn_pool::SendError;
use crate::upstream::dial::Dialer;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What came of sending over HTTP/2.
pub enum H2Outcome {
    /// The origin's response head.
    Response(Response<Incoming>),
    /// The origin did not offer h2 in ALPN: the request was not sent, and
    /// this server is spoken to over HTTP/1.1 from now on.
    NotOffered(Request<Body>),
}

/// The shared HTTP/2 connection to one server.
#[derive(Debug, Default)]
pub struct H2Connection {
    current: tokio::sync::Mutex<Option<SendRequest<Body>>>,
    fell_back: AtomicBool,
}

impl H2Connection {
    /// Has ALPN shown that this server only speaks HTTP/1.1?
    pub fn fell_back(&self) -> bool {
        self.fell_back.load(Ordering::Relaxed)
    }

    /// Send `req` (origin-form target, Host set) over the shared
    /// connection; the target becomes absolute, Host becomes `:authority`.
    pub async fn send(
        &self,
        dialer: &Dialer,
        mut req: Request<Body>,
    ) -> Result<H2Outcome, SendError> {
        absolute_target(dialer, &mut req);
        let mut tries = 0;
        loop {
            tries += 1;
            let (mut sender, fresh) = match self.sender(dialer).await? {
                Some(s) => s,
                None => return Ok(H2Outcome::NotOffered(req)),
            };
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(H2Outcome::Response(resp)),
                Err(mut e) => match e.take_message() {
                    // Never sent: the connection was closing (GOAWAY). A
                    // fresh one takes it; a fresh one failing ends the loop.
                    Some(unsent) if !fresh && tries < 3 => {
                        self.forget().await;
                        req = unsent;
                    }
                    _ => return Err(SendError::Http(e.into_error())),
                },
            }
        }
    }

    /// The open connection, or a new one (`true`: just opened). `None`:
    /// the server does not offer h2.
    async fn sender(
        &self,
        dialer: &Dialer,
    ) -> Result<Option<(SendRequest<Body>, bool)>, SendError> {
        // Held while connecting, so that concurrent requests share one
        // new connection instead of each opening their own.
        let mut current = self.current.lock().await;
        if let Some(s) = current.as_ref()
            && !s.is_closed()
        {
            return Ok(Some((s.clone(), false)));
        }
        *current = None;
        let opened = dialer.open(true).await?;
        if dialer.tls.is_some() && !opened.alpn_h2 {
            if !self.fell_back.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    origin = %dialer.address,
                    "origin did not offer h2 in ALPN; using HTTP/1.1 with it"
                );
            }
            return Ok(None);
        }
        let (sender, conn) = Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true)
            .handshake(TokioIo::new(opened.io))
            .await
            .map_err(SendError::Http)?;
        let address = dialer.address.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, origin = %address, "origin HTTP/2 connection ended");
            }
        });
        *current = Some(sender.clone());
        Ok(Some((sender, true)))
    }

    /// The shared connection refused a request: open another next time.
    async fn forget(&self) {
        *self.current.lock().await = None;
    }
}

/// HTTP/2 needs an absolute target: the scheme of the connection, and the
/// authority from Host (which HTTP/2 carries as `:authority`, RFC 9113
/// §8.3.1), or the server's own address without one.
fn absolute_target(dialer: &Dialer, req: &mut Request<Body>) {
    *req.version_mut() = http::Version::HTTP_2;
    let host = req.headers_mut().remove(http::header::HOST);
    let authority = host
        .as_ref()
        .and_then(|h| http::uri::Authority::try_from(h.as_bytes()).ok())
        .or_else(|| http::uri::Authority::try_from(dialer.address.as_str()).ok());
    let mut parts = std::mem::take(req.uri_mut()).into_parts();
    parts.scheme = Some(dialer.scheme());
    parts.authority = authority;
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    match http::Uri::from_parts(parts) {
        Ok(uri) => *req.uri_mut() = uri,
        Err(e) => tracing::debug!(error = %e, "cannot make an absolute HTTP/2 target"),
    }
}
