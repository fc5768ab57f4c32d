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
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }

    /// A stable token for Cache-Status `detail` and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            UpstreamError::NoOrigin(_) => "no-origin",
            UpstreamError::Unreachable { .. } => "origin-unreachable",
            UpstreamError::Timeout { .. } => "origin-timeout",
            UpstreamError::Overloaded { .. } => "origin-busy",
        }
    }
}
