//! The trace context a request carries through the pipeline, in its
//! extensions: set by the front end ([`super::start_server`]), read where
//! the node talks to the origin ([`super::ClientSpan::start`]).

use super::ids::{SpanId, TraceId};

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
