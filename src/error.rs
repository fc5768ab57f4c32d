//! Errors on the request path, by source: policy (stale-if-error) branches on it.

/// A failed request step.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The client sent something we cannot serve (answered 400).
    #[error("bad request: {0}")]
    Downstream(String),
    /// The origin failed.
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
}

/// How the origin failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No origin is configured for the request's host.
    #[error("no origin is configured for host `{0}`")]
    NoOrigin(String),
    /// Connecting failed or the connection broke before a response head.
    #[error("origin {origin} unreachable: {reason}")]
    Unreachable {
        /// The origin.
        origin: String,
        /// Why.
        reason: String,
    },
    /// The client's request body failed while it was being forwarded
    /// (malformed chunked framing, or cut short): a client error.
    #[error("the request body failed: {reason}")]
    ClientBody {
        /// Why.
        reason: String,
    },
    /// Every server of the origin has an open circuit breaker.
    #[error("origin {origin}: every server is failing (circuit open)")]
    CircuitOpen {
        /// The origin.
        origin: String,
    },
    /// The origin's concurrency limit was reached and the request waited too long.
    #[error("origin {origin} is at its concurrency limit; retry shortly")]
    Overloaded {
        /// The origin.
        origin: String,
    },
    /// The response head did not arrive in time.
    #[error("origin {origin} did not answer within {ms} ms")]
    Timeout {
        /// The origin.
        origin: String,
        /// The timeout that fired.
        ms: u64,
    },
}

impl UpstreamError {
    /// The status a client gets for this failure (RFC 9110 §15.6.3, §15.6.5).
    pub fn status(&self) -> http::StatusCode {
        match self {
            UpstreamError::Timeout { .. } => http::StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::Overloaded { .. } => http::StatusCode::SERVICE_UNAVAILABLE,
            UpstreamError::ClientBody { .. } => http::StatusCode::BAD_REQUEST,
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }

    /// What a client is told: nothing about the origin's address or the
    /// socket error (those are logged).
    pub fn public_message(&self) -> &'static str {
        match self {
            UpstreamError::NoOrigin(_) => "no origin is configured for this host",
            UpstreamError::Unreachable { .. } | UpstreamError::CircuitOpen { .. } => {
                "the origin could not be reached"
            }
            UpstreamError::Timeout { .. } => "the origin did not answer in time",
            UpstreamError::Overloaded { .. } => "the origin is busy; retry shortly",
            UpstreamError::ClientBody { .. } => "the request body was malformed or incomplete",
        }
    }

    /// A stable token for Cache-Status `detail` and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            UpstreamError::NoOrigin(_) => "no-origin",
            UpstreamError::Unreachable { .. } => "origin-unreachable",
            UpstreamError::CircuitOpen { .. } => "origin-circuit-open",
            UpstreamError::Timeout { .. } => "origin-timeout",
            UpstreamError::Overloaded { .. } => "origin-busy",
            UpstreamError::ClientBody { .. } => "request-body-error",
        }
    }
}
