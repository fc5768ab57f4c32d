//! The trace context a request carries through the pipeline: set by the
//! front end ([`super::start_server`]) for the future that handles the
//! request ([`super::within`]), read where the node talks to the origin
//! ([`super::ClientSpan::start`]).
//!
//! It travels as a task-local of the request's future rather than in the
//! request's extensions: an extension costs three allocations per request
//! (the map, its table, the boxed value), which the hit path measurably
//! paid for every traced request although only misses read it. A request
//! the node builds for itself and hands to another task (a background
//! refresh) carries it in its extensions instead.

use super::ids::{SpanId, TraceId};
use super::server_span::ServerSpan;
use http::Extensions;
use std::future::Future;

/// The request's trace and its server span.
#[derive(Clone, Debug)]
pub struct TraceContext {
    /// The trace (continued from a trusted client, or new).
    pub trace_id: TraceId,
    /// The node's server span for this request: the parent of its client spans.
    pub span_id: SpanId,
    /// The trace is sampled: every span is exported.
    pub sampled: bool,
    /// Unsampled, but spans that end in an error are exported
    /// (`always_sample_errors`).
    pub record_errors: bool,
    /// The trusted client's valid `tracestate`, passed on to the origin.
    pub tracestate: Option<http::HeaderValue>,
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// Run `fut` (the request's handling) with `span`'s context; without a
/// span, `fut` as it is.
pub fn within<F: Future>(span: &Option<ServerSpan>, fut: F) -> impl Future<Output = F::Output> {
    match span {
        Some(s) => futures_util::future::Either::Left(CURRENT.scope(s.context().clone(), fut)),
        None => futures_util::future::Either::Right(fut),
    }
}

/// The trace context of the request being handled: from `ext` (a request
/// the node made for itself), else the one the front end set.
pub fn current(ext: &Extensions) -> Option<TraceContext> {
    ext.get::<TraceContext>()
        .cloned()
        .or_else(|| CURRENT.try_with(TraceContext::clone).ok())
}
