//! One client connection, from its first byte to its close: the protocol is
//! picked under `first_bytes_timeout_secs`, writes are bounded by
//! `send_timeout_secs`, HTTP/1.1 bytes pass the strict framing tracker and
//! HTTP/2 connections close when idle. Every request passes
//! [`request_checks`](super::request_checks) before the proxy sees it.

use super::conn_limits::ConnPermit;
use super::first_bytes::{self, Prefixed, Protocol};
use super::h1_framing::TrailerLimits;
use super::h2_idle::{CountedBody, StreamCount};
use super::observe::{self, Observed};
use super::request_checks::{self, Rejection};
use super::send_timeout::SendTimeout;
use super::strict_h1::{ConnFraming, StrictH1};
use crate::config::ServerConfig;
use crate::live::Live;
use crate::proxy::tunnel::ConnHold;
use crate::proxy::{self, Node};
use crate::target::Scheme;
use crate::tls::resolver::Resolver;
use crate::trace;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// What every connection of one listener shares: the node, the protocol
/// builders and the limits, all from `[server]`, and the listener's scheme.
pub struct FrontEnd {
    live: Arc<Live>,
    scheme: Scheme,
    /// `Alt-Svc` added to every response (an HTTP/3 listener on this port).
    alt_svc: Option<http::HeaderValue>,
    /// A TLS listener's certificates, to hold requests to their SNI.
    certs: Option<Arc<Resolver>>,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    first_bytes: Duration,
    send_timeout: Duration,
    h2_idle: Duration,
    max_uri_bytes: usize,
    trailers: TrailerLimits,
}

// === impl FrontEnd ===

impl FrontEnd {
    /// Builders and limits for `node`'s `[server]` settings, for a listener
    /// of `scheme` that advertises `alt_svc` (if any) on every response.
    pub fn new(
        live: Arc<Live>,
        scheme: Scheme,
        alt_svc: Option<http::HeaderValue>,
        certs: Option<Arc<Resolver>>,
    ) -> Arc<Self> {
        let node = live.node();
        let s: &ServerConfig = &node.cfg.server;
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            // hyper runs this timer from the moment it waits for a head, so
            // it also closes an idle keep-alive connection.
            .header_read_timeout(Duration::from_secs(s.header_read_timeout_secs))
            .keep_alive(true)
            .max_headers(s.max_request_headers)
            .max_header_size(s.max_request_head_bytes);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        if websocket_anywhere(&node.cfg) {
            // RFC 8441: offer extended CONNECT, for WebSocket over HTTP/2.
            h2.enable_connect_protocol();
        }
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(s.h2_max_concurrent_streams)
            .max_header_list_size(u32::try_from(s.max_request_head_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(
                (s.h2_keepalive_interval_secs > 0)
                    .then(|| Duration::from_secs(s.h2_keepalive_interval_secs)),
            )
            .keep_alive_timeout(Duration::from_secs(s.h2_keepalive_timeout_secs));
        Arc::new(FrontEnd {
            first_bytes: Duration::from_secs(s.first_bytes_timeout_secs),
            send_timeout: Duration::from_secs(s.send_timeout_secs),
            h2_idle: Duration::from_secs(s.h2_idle_timeout_secs),
            max_uri_bytes: s.max_uri_bytes,
            trailers: TrailerLimits {
                max_bytes: s.max_request_head_bytes,
                max_fields: s.max_request_headers,
            },
            h1,
            h2,
            live,
            scheme,
            alt_svc,
            certs,
        })
    }

    /// Check an HTTP/3 request, then hand it to the proxy.
    pub async fn handle_h3(
        &self,
        req: http::Request<crate::body::Body>,
        peer: SocketAddr,
        sni: Option<&str>,
    ) -> http::Response<Observed> {
        let node = self.live.node();
        let mut start = observe::begin(&node, &req, peer, Some("TLSv1.3"));
        let resp = match self.refuse(&req, peer, sni) {
            Some(refused) => refused,
            None => {
                let span = trace::start_server(
                    &node.services.tracer,
                    &node.trusted_proxies,
                    &req,
                    peer,
                    self.scheme,
                );
                start.note_trace(span.as_ref());
                let resp = proxy::handle(node.clone(), req, peer, self.scheme);
                let resp = trace::within(&span, resp).await;
                trace::end_server(
                    span,
                    &node.services.tracer,
                    &node.cfg,
                    &node.services.purge,
                    resp,
                )
            }
        };
        observe::finish(&node, start, resp)
    }

    /// The front end's own answer to a request it will not pass on: the
    /// request checks (400, 414, 431) and the certificate check (421).
    fn refuse<B>(
        &self,
        req: &http::Request<B>,
        peer: SocketAddr,
        sni: Option<&str>,
    ) -> Option<http::Response<crate::body::Body>> {
        if let Err(r) = request_checks::check(req, self.max_uri_bytes) {
            tracing::debug!(%peer, reason = r.as_str(), "request refused");
            return Some(r.response());
        }
        let r = self.misdirected(req, sni)?;
        tracing::debug!(%peer, "request for a host outside the connection's certificate");
        Some(r)
    }

    /// 421 for a request whose host would have been served another
    /// certificate than the one the connection's SNI chose (RFC 9110
    /// §15.5.20, RFC 9113 §9.1.1): no domain fronting, and a client
    /// certificate accepted for one name is not used for another. Hosts
    /// sharing the certificate may share the connection.
    fn misdirected<B>(
        &self,
        req: &http::Request<B>,
        sni: Option<&str>,
    ) -> Option<http::Response<crate::body::Body>> {
        let (certs, sni) = (self.certs.as_ref()?, sni?);
        let from_header;
        let host = match req.uri().host() {
            Some(h) => h,
            None => {
                let raw = req.headers().get(http::header::HOST)?.as_bytes();
                from_header = http::uri::Authority::try_from(raw).ok()?;
                from_header.host()
            }
        };
        if certs.serves(sni, crate::http_cache::canonical::host(host)) {
            return None;
        }
        let mut resp = http::Response::new(crate::body::full(
            "421 Misdirected Request: this connection's certificate does not cover that host\n",
        ));
        *resp.status_mut() = http::StatusCode::MISDIRECTED_REQUEST;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
        Some(resp)
    }

    /// The node in force now.
    pub fn node(&self) -> Arc<Node> {
        self.live.node()
    }

    /// The send timeout of `[server]`.
    pub fn send_timeout(&self) -> Duration {
        self.send_timeout
    }

    /// The largest request head accepted, in bytes.
    pub fn max_head_bytes(&self) -> usize {
        self.live.node().cfg.server.max_request_head_bytes
    }

    /// Check a request, then hand it to the proxy. `sni` is the name the
    /// client's TLS handshake asked for, if any.
    async fn handle(
        &self,
        req: http::Request<Incoming>,
        peer: SocketAddr,
        sni: Option<&str>,
        tls: Option<&'static str>,
    ) -> http::Response<Observed> {
        let node = self.live.node();
        let mut start = observe::begin(&node, &req, peer, tls);
        let mut resp = match self.refuse(&req, peer, sni) {
            Some(refused) => refused,
            None => {
                let span = trace::start_server(
                    &node.services.tracer,
                    &node.trusted_proxies,
                    &req,
                    peer,
                    self.scheme,
                );
                start.note_trace(span.as_ref());
                let resp =
                    proxy::handle(node.clone(), req.map(crate::body::boxed), peer, self.scheme);
                let resp = trace::within(&span, resp).await;
                trace::end_server(
                    span,
                    &node.services.tracer,
                    &node.cfg,
                    &node.services.purge,
                    resp,
                )
            }
        };
        if let Some(v) = &self.alt_svc {
            resp.headers_mut().insert(http::header::ALT_SVC, v.clone());
        }
        observe::finish(&node, start, resp)
    }
}

/// `TLSv1.3` or `TLSv1.2`, as logged.
fn tls_version_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "TLS",
    }
}

/// Does any site accept WebSocket tunnels?
fn websocket_anywhere(cfg: &crate::config::Config) -> bool {
    cfg.websocket.enabled || cfg.sites.iter().any(|s| s.websocket == Some(true))
}

/// Resolves when the listener stops (or is gone).
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serve one accepted connection until it closes; `permit` holds its place
/// under the connection caps until then.
pub async fn serve(
    fe: Arc<FrontEnd>,
    mut stream: TcpStream,
    peer: SocketAddr,
    permit: ConnPermit,
    mut stop: watch::Receiver<bool>,
) {
    let _permit = permit;
    let sniffed = tokio::select! {
        r = tokio::time::timeout(fe.first_bytes, first_bytes::sniff(&mut stream)) => r,
        () = stopped(&mut stop) => return,
    };
    let (protocol, prefix) = match sniffed {
        Ok(Ok(Some(p))) => p,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %peer, "connection failed before its first request");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "no request bytes within first_bytes_timeout_secs; closing");
            return;
        }
    };
    let io = Prefixed::new(prefix, SendTimeout::new(stream, fe.send_timeout));
    let result = match protocol {
        Protocol::Http1 => serve_h1(fe, io, peer, None, None, stop).await,
        Protocol::Http2 => serve_h2(fe, io, peer, None, None, stop).await,
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// Serve one accepted TLS connection: the handshake must finish within
/// `handshake_timeout`, then ALPN picks HTTP/2 or HTTP/1.1.
pub async fn serve_tls(
    fe: Arc<FrontEnd>,
    stream: TcpStream,
    peer: SocketAddr,
    permit: ConnPermit,
    acceptor: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _permit = permit;
    let io = SendTimeout::new(stream, fe.send_timeout);
    let handshake = tokio::select! {
        r = tokio::time::timeout(handshake_timeout, acceptor.accept(io)) => r,
        () = stopped(&mut stop) => return,
    };
    let tls = match handshake {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %peer, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake not done within handshake_timeout_secs; closing");
            return;
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let sni: Option<Arc<str>> = tls.get_ref().1.server_name().map(Arc::from);
    let version = tls.get_ref().1.protocol_version().map(tls_version_name);
    let result = if h2 {
        serve_h2(fe, tls, peer, sni, version, stop).await
    } else {
        serve_h1(fe, tls, peer, sni, version, stop).await
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "TLS connection ended with an error");
    }
}

async fn serve_h1<I>(
    fe: Arc<FrontEnd>,
    io: I,
    peer: SocketAddr,
    sni: Option<Arc<str>>,
    tls: Option<&'static str>,
    mut stop: watch::Receiver<bool>,
) -> hyper::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let framing = Arc::new(ConnFraming::default());
    let io = StrictH1::new(io, fe.trailers, framing.clone());
    // Each tunnel on this connection holds a sender; all dropped: none left.
    let (tunnel_tx, mut tunnels_done) = tokio::sync::mpsc::channel::<()>(1);
    let fe2 = fe.clone();
    let tx = tunnel_tx.clone();
    let svc = service_fn(move |mut req: http::Request<Incoming>| {
        let (fe, framing, sni) = (fe2.clone(), framing.clone(), sni.clone());
        if req.extensions().get::<OnUpgrade>().is_some() {
            req.extensions_mut().insert(ConnHold::new(tx.clone()));
        }
        async move {
            let n = framing.next_request();
            // Boxed: hyper keeps one slot for this service future per
            // connection for the connection's whole life (Box::pin(None)),
            // sized for the future; unboxed, the proxy's request future
            // (about 5.3 KiB) stayed allocated on every idle keep-alive
            // connection. Boxed, it lives only while a request does.
            let resp = Box::pin(fe.handle(req, peer, sni.as_deref(), tls)).await;
            if framing.body_was_malformed(n) {
                // The proxy saw a failed request body and answered 502.
                return Ok::<_, Infallible>(
                    Rejection::BadRequest("malformed chunked body")
                        .response()
                        .map(Observed::plain),
                );
            }
            if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
                framing.switch_protocols();
            }
            Ok(resp)
        }
    });
    let result = {
        let conn = fe
            .h1
            .serve_connection(TokioIo::new(io), svc)
            .with_upgrades();
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => r,
            () = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        }
    };
    // hyper has handed an upgraded connection to its tunnel: the connection
    // (and its place under the caps) lasts until the tunnel ends.
    drop(tunnel_tx);
    let _ = tunnels_done.recv().await;
    result
}

async fn serve_h2<I>(
    fe: Arc<FrontEnd>,
    io: I,
    peer: SocketAddr,
    sni: Option<Arc<str>>,
    tls: Option<&'static str>,
    mut stop: watch::Receiver<bool>,
) -> hyper::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let streams = StreamCount::new();
    let (fe2, streams2) = (fe.clone(), streams.clone());
    let svc = service_fn(move |mut req: http::Request<Incoming>| {
        let (fe, guard, sni) = (fe2.clone(), streams2.start(), sni.clone());
        if req.extensions().get::<OnUpgrade>().is_some() {
            // An extended CONNECT's tunnel keeps the stream counted, so the
            // idle timeout leaves its connection open.
            req.extensions_mut().insert(ConnHold::new(streams2.start()));
        }
        async move {
            let resp = fe.handle(req, peer, sni.as_deref(), tls).await;
            Ok::<_, Infallible>(resp.map(|b| CountedBody::new(b, guard)))
        }
    });
    let conn = fe.h2.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => return r,
        () = stopped(&mut stop) => {}
        () = streams.idle_for(fe.h2_idle) => {
            tracing::debug!(%peer, "HTTP/2 connection idle; sending GOAWAY");
        }
    }
    conn.as_mut().graceful_shutdown();
    conn.await
}
