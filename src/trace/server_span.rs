//! The server span: one per request, started by the front end before the
//! proxy sees the request and ended when the response body ends (or is
//! dropped), where its status and size are known.
//!
//! Cost: tracing off, one branch. On, a request neither sampled nor kept
//! for errors gets no span (a context is stored only to continue a trusted
//! parent's trace). A recorded span is a fixed-size struct of cheap clones
//! (method, URI and two field values share the request's buffers); the
//! strings are built by the exporter task, and only for exported spans.

use super::context::TraceContext;
use super::ids::{SpanId, TraceId};
use super::record::{BodyEnd, Detail, NodeFacts, ServerFacts, SpanRecord};
use super::{Tracer, cache_outcome, traceparent};
use crate::body::Body;
use crate::cidr::Cidr;
use crate::config::Config;
use crate::config::TrustIncoming;
use crate::target::Scheme;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use storage::PurgeStore;

/// A request's server span, from its start to its response head.
pub struct ServerSpan {
    /// What the pipeline sees ([`super::within`]).
    ctx: TraceContext,
    /// Recorded (sampled, or kept for errors); else only the context
    /// matters (a trusted parent's unsampled trace, continued).
    record: bool,
    parent: Option<SpanId>,
    start: Instant,
    method: Method,
    uri: Uri,
    version: Version,
    host: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    peer: SocketAddr,
    scheme: Scheme,
}

/// Start the server span for `req` from `peer` on a listener of `scheme`;
/// run the request's handling [`super::within`] it. `None` when there is
/// nothing to record or continue (tracing off, or a new trace neither
/// sampled nor kept for errors).
pub fn start_server<B>(
    tracer: &Tracer,
    trusted_proxies: &[Cidr],
    req: &Request<B>,
    peer: SocketAddr,
    scheme: Scheme,
) -> Option<ServerSpan> {
    let s = tracer.settings.as_ref()?;
    // Trust first: it is cheaper than looking a field up by a custom name.
    let trusted = match s.trust {
        TrustIncoming::Always => true,
        TrustIncoming::Never => false,
        TrustIncoming::TrustedProxies => trusted_proxies.iter().any(|c| c.contains(peer.ip())),
    };
    let parent = if trusted && req.headers().contains_key(traceparent::TRACEPARENT) {
        traceparent::parent(req.headers())
    } else {
        None
    };
    let trace_id = parent.map_or_else(TraceId::random, |p| p.trace_id);
    let sampled = match parent {
        Some(p) => p.sampled,
        None => tracer.sampled(s, trace_id),
    };
    let record = sampled || s.always_sample_errors;
    if !record && parent.is_none() {
        // The origin request (if any) starts an unsampled trace itself.
        return None;
    }
    let ctx = TraceContext {
        trace_id,
        span_id: SpanId::random(),
        sampled,
        record_errors: !sampled && record,
        tracestate: parent.and_then(|_| traceparent::state(req.headers())),
    };
    Some(ServerSpan {
        ctx,
        record,
        parent: parent.map(|p| p.span_id),
        start: crate::clock::instant(),
        method: req.method().clone(),
        uri: req.uri().clone(),
        version: req.version(),
        host: req.headers().get(header::HOST).cloned(),
        user_agent: req.headers().get(header::USER_AGENT).cloned(),
        peer,
        scheme,
    })
}

/// Hand `resp` to the span: its body is wrapped so the span ends with it.
/// Without a span, `resp` is returned as it is.
pub fn end_server(
    span: Option<ServerSpan>,
    tracer: &Arc<Tracer>,
    cfg: &Config,
    purge: &PurgeStore,
    resp: &Response<Body>,
) -> Option<Box<SpanEnd>> {
    let span = span?;
    let status = resp.status();
    if !span.record || (!span.ctx.sampled && !status.is_server_error()) {
        // Kept only in case of an error, and the head says success: done.
        // (A body that then fails mid-stream goes unexported.)
        return None;
    }
    let cache_status = resp.headers().get("cache-status").cloned();
    // Known now to be exported: note what only the node knows.
    let facts = Some(node_facts(cfg, purge, &span, cache_status.as_ref()));
    let tracer = tracer.clone();
    Some(Box::new(SpanEnd {
        tracer,
        span,
        status,
        cache_status,
        facts,
    }))
}

/// The site, key and purge sequence of a request, for its span.
fn node_facts(
    cfg: &Config,
    purge: &PurgeStore,
    span: &ServerSpan,
    cache_status: Option<&HeaderValue>,
) -> NodeFacts {
    let mut headers = http::HeaderMap::new();
    if let Some(h) = &span.host {
        headers.insert(header::HOST, h.clone());
    }
    let target = crate::target::target(&span.uri, &headers, span.version, span.scheme).ok();
    let exposed = cache_status
        .and_then(|v| v.to_str().ok())
        .and_then(|v| cache_outcome::parse(v).key.map(str::to_string));
    let key = exposed.or_else(|| {
        let t = target.as_ref()?;
        let key = crate::http_cache::key::primary(t.scheme, &t.authority, &t.path_and_query);
        Some(super::ids::hex(&key.0))
    });
    NodeFacts {
        site: target.and_then(|t| site_label(cfg, &t.host)),
        key,
        purge_seq: purge.current_seq(),
    }
}

/// The site serving `host`: the first host of its `[[sites]]` entry, or
/// `default` for the top-level origin.
fn site_label(cfg: &Config, host: &str) -> Option<String> {
    cfg.sites
        .iter()
        .find(|s| s.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
        .and_then(|s| s.hosts.first().cloned())
        .or_else(|| cfg.origin.as_ref().map(|_| "default".to_string()))
}

/// A server span waiting for its response body to end: the front end's
/// one response-body observer ends it, with the bytes sent and how the
/// body ended.
pub struct SpanEnd {
    tracer: Arc<Tracer>,
    span: ServerSpan,
    status: StatusCode,
    cache_status: Option<HeaderValue>,
    facts: Option<NodeFacts>,
}

impl ServerSpan {
    /// The context the request's handling sees.
    pub fn context(&self) -> &TraceContext {
        &self.ctx
    }
}

impl SpanEnd {
    /// End the span: its body sent `body_bytes` and ended as `end`.
    pub fn end(self: Box<Self>, body_bytes: u64, end: BodyEnd) {
        let SpanEnd {
            tracer,
            span,
            status,
            cache_status,
            facts,
        } = *self;
        let failed = status.is_server_error() || matches!(end, BodyEnd::Failed(_));
        let ctx = span.ctx;
        if !ctx.sampled && !failed {
            return;
        }
        let (start_unix_nanos, end_unix_nanos) = wall_times(span.start);
        let record = SpanRecord {
            trace_id: ctx.trace_id,
            span_id: ctx.span_id,
            parent: span.parent,
            sampled: ctx.sampled,
            tracestate: ctx.tracestate,
            start_unix_nanos,
            end_unix_nanos,
            method: span.method,
            detail: Detail::Server(Box::new(ServerFacts {
                uri: span.uri,
                version: span.version,
                host: span.host,
                user_agent: span.user_agent,
                peer: span.peer,
                scheme: span.scheme,
                status,
                cache_status,
                body_bytes,
                end,
                node: facts,
            })),
        };
        tracer.submit(record);
    }
}

/// A span's (start, end) in nanoseconds since the Unix epoch, for a span
/// that started at `start` and ends now. Only the monotonic clock is read
/// when a span starts: most spans are never exported.
pub(super) fn wall_times(start: Instant) -> (u64, u64) {
    let elapsed = crate::clock::instant().saturating_duration_since(start);
    let elapsed = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    let end = crate::clock::unix_nanos();
    (end.saturating_sub(elapsed), end)
}
