//! A finished span as the request path hands it to the exporter: ids,
//! times and the raw facts (method, URI, status, Cache-Status...), kept as
//! the typed values the request already had. Turning them into OTLP
//! attributes (strings, allocations) is the exporter task's work.

use super::ids::{SpanId, TraceId};
use crate::target::Scheme;
use http::{HeaderValue, Method, StatusCode, Uri, Version};
use std::net::SocketAddr;

/// One finished span.
#[derive(Debug)]
pub struct SpanRecord {
    /// Its trace.
    pub trace_id: TraceId,
    /// Its own id.
    pub span_id: SpanId,
    /// Its parent (a remote client's span, or the node's server span).
    pub parent: Option<SpanId>,
    /// The trace was sampled (else the span is exported for its error).
    pub sampled: bool,
    /// The trusted caller's `tracestate`.
    pub tracestate: Option<HeaderValue>,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// The request method.
    pub method: Method,
    /// What kind of span, with its own facts.
    pub detail: Detail,
}

/// The facts of a server or client span.
#[derive(Debug)]
pub enum Detail {
    /// The client's request to the node.
    Server(Box<ServerFacts>),
    /// The node's request to the origin.
    Client(Box<ClientFacts>),
}

/// A request to the node and its answer.
#[derive(Debug)]
pub struct ServerFacts {
    /// The request target as received.
    pub uri: Uri,
    /// The request's HTTP version.
    pub version: Version,
    /// The request's Host field.
    pub host: Option<HeaderValue>,
    /// The request's User-Agent field.
    pub user_agent: Option<HeaderValue>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener's scheme.
    pub scheme: Scheme,
    /// The response status.
    pub status: StatusCode,
    /// The response's Cache-Status field (this node's member is the last).
    pub cache_status: Option<HeaderValue>,
    /// Response body bytes sent.
    pub body_bytes: u64,
    /// How the response body ended.
    pub end: BodyEnd,
    /// The site, object key and purge sequence (filled for spans known to
    /// be exported when the response head is sent).
    pub node: Option<NodeFacts>,
}

/// What the node knew about the request when it answered.
#[derive(Debug, Default)]
pub struct NodeFacts {
    /// The site: its first configured host, or `default`.
    pub site: Option<String>,
    /// The object's primary key, hex (Cache-Status `key` when exposed).
    pub key: Option<String>,
    /// The purge sequence when the response was sent.
    pub purge_seq: u64,
}

/// How a response body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEnd {
    /// Sent to its end.
    Complete,
    /// Failed while streaming (an origin failure or timeout mid-body).
    Failed(String),
    /// The client went away before its end.
    Aborted,
}

/// A request to the origin and its answer.
#[derive(Debug)]
pub struct ClientFacts {
    /// `scheme://authority` of the origin (its first server for a pool).
    pub origin: String,
    /// The origin's host.
    pub server_address: String,
    /// The origin's port.
    pub server_port: u16,
    /// Path and query sent.
    pub path_and_query: String,
    /// Times the request was sent again after a connection failure.
    pub resend_count: u32,
    /// The origin's answer: status and HTTP version, or why none came.
    pub outcome: Result<(StatusCode, Version), &'static str>,
}
