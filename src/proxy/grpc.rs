//! gRPC requests: how to recognise one, and the gRPC answer to a request
//! that failed before the origin answered (a trailers-only response with a
//! grpc-status, never an HTML or text error page).

use crate::body::{self, Body};
use crate::error::UpstreamError;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Response, StatusCode};

/// gRPC status codes used by the node (grpc/doc/statuscodes.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// 4: the deadline expired before the operation completed.
    DeadlineExceeded = 4,
    /// 13: internal error.
    Internal = 13,
    /// 14: the service is unavailable (a client may retry).
    Unavailable = 14,
}

/// Is this a gRPC request (`content-type: application/grpc`, `+proto`, ...)?
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The client's deadline from `grpc-timeout` (1 to 8 digits and a unit:
/// `H`, `M`, `S`, `m`, `u` or `n`). `None` when absent or malformed.
pub fn timeout(headers: &HeaderMap) -> Option<std::time::Duration> {
    let v = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    use std::time::Duration;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The gRPC status for an origin failure: a timeout is DEADLINE_EXCEEDED, a
/// failed request body INTERNAL (as gRPC maps HTTP 400), every other
/// failure UNAVAILABLE (as gRPC maps HTTP 502, 503 and 504).
pub fn code_for(e: &UpstreamError) -> Code {
    match e {
        UpstreamError::Timeout { .. } => Code::DeadlineExceeded,
        UpstreamError::ClientBody { .. } => Code::Internal,
        UpstreamError::NoOrigin(_)
        | UpstreamError::Unreachable { .. }
        | UpstreamError::CircuitOpen { .. }
        | UpstreamError::Overloaded { .. } => Code::Unavailable,
    }
}

/// A trailers-only gRPC response: HTTP 200, no body, `grpc-status` and
/// `grpc-message` in the head (which then ends the stream). The message is
/// percent-encoded as the gRPC protocol requires.
pub fn error_response(code: Code, message: &str) -> Response<Body> {
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(code as u16));
    if let Ok(v) = HeaderValue::from_str(&percent_encode(message)) {
        h.insert("grpc-message", v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// gRPC's percent-encoding of grpc-message: bytes outside printable ASCII,
/// and `%`, become `%XX`.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_grpc_content_types() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::CONTENT_TYPE, v.parse().expect("value"));
            m
        };
        assert!(is_grpc(&h("application/grpc")));
        assert!(is_grpc(&h("application/grpc+proto")));
        assert!(!is_grpc(&h("application/json")));
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn error_response_is_trailers_only_with_status_and_encoded_message() {
        let r = error_response(Code::Unavailable, "origin down: 100% é");
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h["content-type"], "application/grpc");
        assert_eq!(h["grpc-status"], "14");
        assert_eq!(h["grpc-message"], "origin down: 100%25 %C3%A9");
        assert!(http_body::Body::is_end_stream(r.body()));
    }

    #[test]
    fn parses_grpc_timeout() {
        use std::time::Duration;
        let t = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert("grpc-timeout", v.parse().expect("value"));
            timeout(&m)
        };
        assert_eq!(t("200m"), Some(Duration::from_millis(200)));
        assert_eq!(t("5S"), Some(Duration::from_secs(5)));
        assert_eq!(t("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(t("10u"), Some(Duration::from_micros(10)));
        for bad in ["", "m", "123456789S", "5s", "-1S", "1.5S"] {
            assert_eq!(t(bad), None, "{bad:?}");
        }
        assert_eq!(timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn upstream_errors_map_to_grpc_codes() {
        let timeout = UpstreamError::Timeout {
            origin: "o".into(),
            ms: 1,
        };
        assert_eq!(code_for(&timeout), Code::DeadlineExceeded);
        let down = UpstreamError::Unreachable {
            origin: "o".into(),
            reason: "refused".into(),
        };
        assert_eq!(code_for(&down), Code::Unavailable);
        let busy = UpstreamError::Overloaded { origin: "o".into() };
        assert_eq!(code_for(&busy), Code::Unavailable);
    }
}
