//! The connection pool of one origin server. HTTP/1.1: keep-alive connections
//! opened on demand under a connect timeout, kept idle for reuse, and handed
//! back by the response body once the origin has sent all of it. HTTP/2
//! (h2c, or h2 by ALPN): one shared multiplexed connection (`h2_conn`).
//!
//! This replaces hyper-util's general pooled client on the pass-through and
//! miss paths: one pool per server, no per-request pool key, and a request
//! that was never written (the origin closed an idle connection just as it
//! was reused) is sent again on another connection, whatever its method.
//! A bodiless idempotent request that was written onto a reused connection
//! the origin closed before answering (its keep-alive timeout ran out as we
//! wrote) is sent once more on a fresh connection: nothing was answered, so
//! sending it again is safe (RFC 9110 §9.2.2), and it is not the origin's
//! fault, so it never counts against its circuit breaker.

use crate::body::Body;
use crate::clock;
use crate::config::Protocol;
use crate::upstream::dial::Dialer;
use crate::upstream::h2_conn::{H2Connection, H2Outcome};
use crate::upstream::origin_tls::TlsConnect;
pub use crate::upstream::send_error::SendError;
use crate::upstream::send_error::{Head, closed_before_response};
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How connections to an origin server are opened and kept.
#[derive(Clone, Copy, Debug)]
pub struct ConnSettings {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Idle connections kept per server.
    pub max_idle: usize,
}

struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

/// The connections to one origin server.
pub struct ConnPool {
    dialer: Dialer,
    protocol: Protocol,
    settings: ConnSettings,
    idle: Mutex<Vec<Idle>>,
    h2: H2Connection,
}

impl std::fmt::Debug for ConnPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnPool")
            .field("address", &self.dialer.address)
            .field("protocol", &self.protocol)
            .field("idle", &self.idle.lock().len())
            .finish()
    }
}

impl ConnPool {
    /// ConnPool to the server at `uri` (`http(s)://host[:port]`), over
    /// TLS with `tls` for an https server, speaking `protocol`.
    pub fn new(
        uri: &http::Uri,
        settings: ConnSettings,
        protocol: Protocol,
        tls: Option<TlsConnect>,
    ) -> ConnPool {
        let host = uri.host().unwrap_or("localhost");
        let default_port = if tls.is_some() { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(default_port);
        ConnPool {
            dialer: Dialer {
                address: format!("{host}:{port}"),
                tls,
                timeout: settings.connect_timeout,
            },
            protocol,
            settings,
            idle: Mutex::new(Vec::new()),
            h2: H2Connection::default(),
        }
    }

    /// How connections to this server are opened (also used for dedicated
    /// WebSocket tunnel connections).
    pub fn dialer(&self) -> &Dialer {
        &self.dialer
    }

    /// Does this server speak HTTP/2 (configured so, and ALPN agreed)?
    pub fn speaks_h2(&self) -> bool {
        self.protocol != Protocol::Http1 && !self.h2.fell_back()
    }

    /// Send `req` (origin-form target, Host set by the caller). Returns once
    /// the response head has arrived; the body streams (and, over HTTP/1.1,
    /// returns the connection to the pool when it ends).
    pub async fn send(
        self: &Arc<Self>,
        mut req: Request<Body>,
    ) -> Result<Response<Recycle>, SendError> {
        if self.speaks_h2() {
            match self.h2.send(&self.dialer, req).await? {
                H2Outcome::Response(resp) => {
                    let (parts, inner) = resp.into_parts();
                    return Ok(Response::from_parts(parts, Recycle { inner, home: None }));
                }
                H2Outcome::NotOffered(unsent) => req = from_h2(unsent),
            }
        }
        *req.version_mut() = http::Version::HTTP_11;
        let mut fresh_only = false;
        loop {
            let idle = if fresh_only {
                None
            } else {
                self.take_idle().await
            };
            let (mut sender, reused) = match idle {
                Some(s) => (s, true),
                None => (self.connect().await?, false),
            };
            let head = if reused {
                Head::of_replayable(&req)
            } else {
                None
            };
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(self.recycle_with(resp, sender)),
                Err(mut e) => match e.take_message() {
                    // Never written: the reused connection was closing. Another
                    // connection takes it (a fresh one ends this loop).
                    Some(unsent) if reused => req = unsent,
                    _ => {
                        let e = e.into_error();
                        if !reused || !closed_before_response(&e) {
                            return Err(SendError::Http(e));
                        }
                        // Written, then closed unanswered: once more on a
                        // fresh connection if that is safe.
                        let Some(head) = head else {
                            return Err(SendError::Stale(e));
                        };
                        tracing::debug!(error = %e, "origin closed a reused connection; sending again on a fresh one");
                        req = head.rebuild();
                        fresh_only = true;
                    }
                },
            }
        }
    }

    /// The most recently used idle connection that is still open and ready.
    async fn take_idle(&self) -> Option<SendRequest<Body>> {
        loop {
            let now = clock::instant();
            let idle = {
                let mut idle = self.idle.lock();
                self.drop_expired(&mut idle, now);
                idle.pop()
            }?;
            let mut sender = idle.sender;
            if sender.is_closed() {
                continue;
            }
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Body>, SendError> {
        let opened = self.dialer.open(false).await?;
        let (sender, conn) = Builder::new()
            .handshake(TokioIo::new(opened.io))
            .await
            .map_err(SendError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "origin connection ended");
            }
        });
        Ok(sender)
    }

    fn recycle_with(
        self: &Arc<Self>,
        resp: Response<Incoming>,
        sender: SendRequest<Body>,
    ) -> Response<Recycle> {
        let (parts, inner) = resp.into_parts();
        let mut body = Recycle {
            inner,
            home: Some((sender, self.clone())),
        };
        if http_body::Body::is_end_stream(&body.inner) {
            body.recycle();
        }
        Response::from_parts(parts, body)
    }

    fn put_back(self: &Arc<Self>, mut sender: SendRequest<Body>) {
        if sender.is_closed() || self.settings.max_idle == 0 {
            return;
        }
        if !sender.is_ready() {
            // The response is complete but the connection is still busy: an
            // origin that answered before reading the whole request body
            // (a 401 or 413 to an upload). Origin it only once it is free, so
            // that no other request waits behind that upload.
            let home = self.clone();
            let wait = self.settings.idle_timeout;
            tokio::spawn(async move {
                if let Ok(Ok(())) = tokio::time::timeout(wait, sender.ready()).await {
                    home.park(sender);
                }
            });
            return;
        }
        self.park(sender);
    }

    fn park(&self, sender: SendRequest<Body>) {
        let now = clock::instant();
        let mut idle = self.idle.lock();
        self.drop_expired(&mut idle, now);
        if idle.len() >= self.settings.max_idle {
            idle.remove(0);
        }
        idle.push(Idle { sender, since: now });
    }

    /// Drop the idle connections kept longer than the idle timeout (the
    /// list is oldest first).
    fn drop_expired(&self, idle: &mut Vec<Idle>, now: Instant) {
        let expired = idle
            .iter()
            .take_while(|c| now.duration_since(c.since) > self.settings.idle_timeout)
            .count();
        idle.drain(..expired);
    }
}

/// A request prepared for HTTP/2 (absolute target, no Host), made fit for
/// HTTP/1.1 again: origin-form target, Host from the authority.
fn from_h2(mut req: Request<Body>) -> Request<Body> {
    let uri = std::mem::take(req.uri_mut());
    if let Some(a) = uri.authority()
        && let Ok(v) = http::HeaderValue::from_str(a.as_str())
    {
        req.headers_mut().insert(http::header::HOST, v);
    }
    *req.uri_mut() = uri
        .path_and_query()
        .map_or(http::Uri::from_static("/"), |pq| {
            http::Uri::try_from(pq.as_str()).unwrap_or(http::Uri::from_static("/"))
        });
    req
}

/// An origin response body that returns its HTTP/1.1 connection to the
/// pool once the whole body has arrived. Dropped early, it closes the
/// connection (over HTTP/2: resets the stream; the connection stays).
pub struct Recycle {
    inner: Incoming,
    home: Option<(SendRequest<Body>, Arc<ConnPool>)>,
}

impl Recycle {
    fn recycle(&mut self) {
        if let Some((sender, home)) = self.home.take() {
            home.put_back(sender);
        }
    }
}

impl http_body::Body for Recycle {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.recycle(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.recycle(),
            Poll::Ready(Some(Err(_))) => this.home = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
