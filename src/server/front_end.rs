//! The front end of one listener: what every connection of it shares (the
//! node in force, the protocol builders, the limits, the scheme), and the
//! handling of one request before and after the pipeline (request checks,
//! misdirected requests, the server span, observation for metrics and logs).

use super::h1_framing::TrailerLimits;
use super::observe::{self, Observed};
use super::request_checks;
use crate::config::ServerConfig;
use crate::live::Live;
use crate::proxy::{self, Pipeline};
use crate::target::Scheme;
use crate::tls::resolver::Resolver;
use crate::trace;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What every connection of one listener shares: the pipeline in force, the protocol
/// builders and the limits, all from `[server]`, and the listener's scheme.
pub struct FrontEnd {
    live: Arc<Live>,
    scheme: Scheme,
    /// `Alt-Svc` added to every response (an HTTP/3 listener on this port).
    alt_svc: Option<http::HeaderValue>,
    /// A TLS listener's certificates, to hold requests to their SNI.
    certs: Option<Arc<Resolver>>,
    pub(super) h1: http1::Builder,
    pub(super) h2: http2::Builder<TokioExecutor>,
    pub(super) first_bytes: Duration,
    pub(super) send_timeout: Duration,
    pub(super) h2_idle: Duration,
    max_uri_bytes: usize,
    pub(super) trailers: TrailerLimits,
}

// === impl FrontEnd ===

impl FrontEnd {
    /// Builders and limits for `pipeline`'s `[server]` settings, for a listener
    /// of `scheme` that advertises `alt_svc` (if any) on every response.
    pub fn new(
        live: Arc<Live>,
        scheme: Scheme,
        alt_svc: Option<http::HeaderValue>,
        certs: Option<Arc<Resolver>>,
    ) -> Arc<Self> {
        let pipeline = live.pipeline();
        let s: &ServerConfig = &pipeline.cfg.server;
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            // hyper runs this timer from the moment it waits for a head, so
            // it also closes an idle keep-alive connection.
            .header_read_timeout(Duration::from_secs(s.header_read_timeout_secs))
            .keep_alive(true)
            .max_headers(s.max_request_headers)
            .max_header_size(s.max_request_head_bytes);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        if websocket_anywhere(&pipeline.cfg) {
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
        let pipeline = self.live.pipeline();
        let mut start = observe::begin(&pipeline, &req, peer, Some("TLSv1.3"));
        let (resp, span_end) = match self.refuse(&req, peer, sni) {
            Some(refused) => (refused, None),
            None => {
                let span = self.start_span(&pipeline, &req, peer, &mut start);
                let resp = proxy::handle(pipeline.clone(), req, peer, self.scheme);
                let resp = trace::within(&span, resp).await;
                let end = end_span(&pipeline, span, &resp);
                (resp, end)
            }
        };
        observe::finish(&pipeline, start, resp, span_end)
    }

    /// Start `req`'s server span (if traced) and note its trace id for the
    /// log line.
    fn start_span<B>(
        &self,
        pipeline: &Pipeline,
        req: &http::Request<B>,
        peer: SocketAddr,
        start: &mut observe::Start,
    ) -> Option<trace::ServerSpan> {
        let (tracer, trusted) = (&pipeline.services.tracer, &pipeline.trusted_proxies);
        let span = trace::start_server(tracer, trusted, req, peer, self.scheme);
        start.note_trace(span.as_ref());
        span
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

    /// The pipeline in force now.
    pub fn pipeline(&self) -> Arc<Pipeline> {
        self.live.pipeline()
    }

    /// The send timeout of `[server]`.
    pub fn send_timeout(&self) -> Duration {
        self.send_timeout
    }

    /// The largest request head accepted, in bytes.
    pub fn max_head_bytes(&self) -> usize {
        self.live.pipeline().cfg.server.max_request_head_bytes
    }

    /// Check a request, then hand it to the proxy. `sni` is the name the
    /// client's TLS handshake asked for, if any.
    pub(super) async fn handle(
        &self,
        req: http::Request<Incoming>,
        peer: SocketAddr,
        sni: Option<&str>,
        tls: Option<&'static str>,
    ) -> http::Response<Observed> {
        let pipeline = self.live.pipeline();
        let mut start = observe::begin(&pipeline, &req, peer, tls);
        let (mut resp, span_end) = match self.refuse(&req, peer, sni) {
            Some(refused) => (refused, None),
            None => {
                let span = self.start_span(&pipeline, &req, peer, &mut start);
                let req = req.map(crate::body::boxed);
                let resp = proxy::handle(pipeline.clone(), req, peer, self.scheme);
                let resp = trace::within(&span, resp).await;
                let end = end_span(&pipeline, span, &resp);
                (resp, end)
            }
        };
        if let Some(v) = &self.alt_svc {
            resp.headers_mut().insert(http::header::ALT_SVC, v.clone());
        }
        observe::finish(&pipeline, start, resp, span_end)
    }
}

/// Hand the server span (if any) the response head; its end waits for the body.
fn end_span(
    pipeline: &Pipeline,
    span: Option<trace::ServerSpan>,
    resp: &http::Response<crate::body::Body>,
) -> Option<Box<trace::SpanEnd>> {
    let services = &pipeline.services;
    trace::end_server(span, &services.tracer, &pipeline.cfg, &services.purge, resp)
}

/// Does any site accept WebSocket tunnels?
fn websocket_anywhere(cfg: &crate::config::Config) -> bool {
    cfg.websocket.enabled || cfg.sites.iter().any(|s| s.websocket == Some(true))
}
