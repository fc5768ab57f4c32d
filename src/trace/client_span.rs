//! The client span: one per origin exchange (retries included), a child of
//! the request's server span. Starting it puts our `traceparent` (the
//! client span as parent-id, the trace's sampled flag) on the origin
//! request, and the trusted caller's `tracestate`; a client's own
//! `tracestate` is removed when its trace is not continued. With tracing
//! off nothing is touched: the client's fields pass through as they came.
//!
//! The span ends when the origin's response head arrives (or the exchange
//! fails); the body's streaming time is in the server span.

use super::ids::{SpanId, TraceId};
use super::record::{ClientFacts, Detail, SpanRecord};
use super::server_span::wall_times;
use super::{Tracer, traceparent};
use crate::body::Body;
use crate::error::UpstreamError;
use http::{Extensions, HeaderValue, Method, Request, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// An origin exchange being traced.
pub struct ClientSpan {
    /// Set when the span may be exported (sampled, or kept for errors).
    recording: Option<Recording>,
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
    traceparent: HeaderValue,
    tracestate: Option<HeaderValue>,
    /// Requests sent again (replays), counted as they are built.
    resends: AtomicU32,
}

/// What a recorded client span keeps until it ends.
struct Recording {
    tracer: Arc<Tracer>,
    parent: SpanId,
    record_errors: bool,
    start: Instant,
    method: Method,
    origin: &'static str,
    authority: String,
    path_and_query: String,
}

impl ClientSpan {
    /// Start the span for `req`, about to go to the origin that `origin`
    /// names (its scheme and authority, asked only for a recorded span) for
    /// the request whose extensions are `ext`, and put the trace fields on
    /// `req`. `None` when tracing is off.
    pub fn start(
        tracer: &Arc<Tracer>,
        ext: &Extensions,
        req: &mut Request<Body>,
        origin: impl FnOnce() -> (&'static str, String),
        path_and_query: &str,
    ) -> Option<ClientSpan> {
        tracer.settings.as_ref()?;
        let span_id = SpanId::random();
        let span = match super::context::current(ext) {
            Some(ctx) => ClientSpan {
                recording: (ctx.sampled || ctx.record_errors).then(|| {
                    let (scheme, authority) = origin();
                    Recording {
                        tracer: tracer.clone(),
                        parent: ctx.span_id,
                        record_errors: ctx.record_errors,
                        start: crate::clock::instant(),
                        method: req.method().clone(),
                        origin: scheme,
                        authority,
                        path_and_query: path_and_query.to_string(),
                    }
                }),
                trace_id: ctx.trace_id,
                span_id,
                sampled: ctx.sampled,
                traceparent: traceparent::format(ctx.trace_id, span_id, ctx.sampled),
                tracestate: ctx.tracestate,
                resends: AtomicU32::new(0),
            },
            // No recorded server span and no trusted parent: an unsampled
            // trace of its own, so the origin still learns the decision.
            None => {
                let trace_id = TraceId::random();
                ClientSpan {
                    recording: None,
                    trace_id,
                    span_id,
                    sampled: false,
                    traceparent: traceparent::format(trace_id, span_id, false),
                    tracestate: None,
                    resends: AtomicU32::new(0),
                }
            }
        };
        span.put_fields(req);
        Some(span)
    }

    /// Put the trace fields on a request built again for a retry.
    pub fn resend(&self, req: &mut Request<Body>) {
        self.resends.fetch_add(1, Ordering::Relaxed);
        self.put_fields(req);
    }

    fn put_fields(&self, req: &mut Request<Body>) {
        let h = req.headers_mut();
        h.insert(traceparent::TRACEPARENT, self.traceparent.clone());
        match &self.tracestate {
            Some(v) => {
                h.insert(traceparent::TRACESTATE, v.clone());
            }
            None => {
                h.remove(traceparent::TRACESTATE);
            }
        }
    }

    /// End the span with the exchange's outcome; it is exported when its
    /// trace is sampled, or when it failed and errors are kept (a failure,
    /// or a 5xx from the origin).
    pub fn end<B>(self, result: &Result<Response<B>, UpstreamError>) {
        let Some(r) = self.recording else {
            return;
        };
        let outcome = match result {
            Ok(resp) => Ok((resp.status(), resp.version())),
            Err(e) => Err(e.as_str()),
        };
        let failed = outcome.as_ref().map_or(true, |(s, _)| s.is_server_error());
        let exported = self.sampled || (r.record_errors && failed);
        if !exported {
            return;
        }
        let (address, port) = split_authority(&r.authority, r.origin);
        let (start_unix_nanos, end_unix_nanos) = wall_times(r.start);
        let record = SpanRecord {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent: Some(r.parent),
            sampled: self.sampled,
            tracestate: self.tracestate,
            start_unix_nanos,
            end_unix_nanos,
            method: r.method,
            detail: Detail::Client(Box::new(ClientFacts {
                origin: format!("{}://{}", r.origin, r.authority),
                server_address: address,
                server_port: port,
                path_and_query: r.path_and_query,
                resend_count: self.resends.into_inner(),
                outcome,
            })),
        };
        r.tracer.submit(record);
    }
}

/// `host:port` (or `[v6]:port`, or a bare host) as (host, port), the port
/// defaulting by scheme.
fn split_authority(authority: &str, scheme: &str) -> (String, u16) {
    let default = if scheme == "https" { 443 } else { 80 };
    match authority.parse::<http::uri::Authority>() {
        Ok(a) => (
            a.host().trim_matches(['[', ']']).to_string(),
            a.port_u16().unwrap_or(default),
        ),
        Err(_) => (authority.to_string(), default),
    }
}
