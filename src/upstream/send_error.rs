//! Why an exchange with an origin server failed, and which failures a
//! bodiless idempotent request may be sent again after: the keep-alive race
//! (the origin closed a reused connection as the request was written).

use crate::body::Body;
use http::Request;

/// Why an exchange with the origin failed.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be opened (refused, unreachable, timed out).
    Connect(String),
    /// The TLS handshake failed (e.g. the certificate was refused).
    Tls(String),
    /// HTTP failure on an open connection.
    Http(hyper::Error),
    /// A reused keep-alive connection was closed by the origin before it
    /// answered, and the request could not be sent again (it had a body or
    /// was not idempotent). A race with the origin's idle timeout, not a
    /// sign that the server is down.
    Stale(hyper::Error),
}

impl SendError {
    /// Did the client's own request body fail (malformed chunking, cut
    /// short)? Then the origin is not at fault.
    pub fn from_client_body(&self) -> bool {
        matches!(self, SendError::Http(h) if h.is_user())
    }

    /// Did it fail before the origin said anything, so that a bodiless
    /// idempotent request may be tried again?
    pub fn before_response(&self) -> bool {
        match self {
            SendError::Connect(_) | SendError::Tls(_) => true,
            SendError::Http(h) => h.is_incomplete_message() || h.is_canceled() || h.is_closed(),
            SendError::Stale(_) => true,
        }
    }

    /// Did it fail after the connection was made (the server is reachable)?
    pub fn after_connect(&self) -> bool {
        matches!(self, SendError::Http(_) | SendError::Stale(_))
    }

    /// Is this the keep-alive race rather than a failing server?
    pub fn is_stale(&self) -> bool {
        matches!(self, SendError::Stale(_))
    }
}

/// Did the origin close a connection, or reset it, before any response
/// arrived (rather than send something malformed, or time out)?
pub(super) fn closed_before_response(e: &hyper::Error) -> bool {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return true;
    }
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            );
        }
        src = inner.source();
    }
    false
}

/// What is needed to write a bodiless request again.
pub(super) struct Head {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
}

impl Head {
    /// The head of `req` if it may be sent again after the origin closed a
    /// reused connection on it: idempotent, with no body.
    pub(super) fn of_replayable(req: &Request<Body>) -> Option<Head> {
        (req.method().is_idempotent() && http_body::Body::is_end_stream(req.body())).then(|| Head {
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers: req.headers().clone(),
        })
    }

    pub(super) fn rebuild(self) -> Request<Body> {
        let mut req = Request::new(crate::body::empty());
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri;
        *req.headers_mut() = self.headers;
        *req.version_mut() = http::Version::HTTP_11;
        req
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(m) => write!(f, "connect: {m}"),
            SendError::Tls(m) => write!(f, "tls: {m}"),
            SendError::Http(e) | SendError::Stale(e) => {
                if matches!(self, SendError::Stale(_)) {
                    write!(f, "reused connection closed by the origin: ")?;
                }
                write!(f, "{e}")?;
                let mut src = std::error::Error::source(e);
                while let Some(inner) = src {
                    write!(f, ": {inner}")?;
                    src = inner.source();
                }
                Ok(())
            }
        }
    }
}
