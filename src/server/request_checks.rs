//! Checks on a parsed request head before it enters the proxy: what hyper
//! accepts but a strict HTTP/1.1 intermediary must refuse (RFC 9112 §3.2,
//! §6.1, §6.3; RFC 9110 §7.2, §8.6), and the target length cap. Every
//! refusal closes the connection: after a malformed head the node cannot
//! trust where the next request starts.

use crate::body::{self, Body};
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// 400, with the reason.
    BadRequest(&'static str),
    /// 414: the target is longer than `server.max_uri_bytes`.
    UriTooLong,
}

// === impl Rejection ===

impl Rejection {
    /// The reason, for logs and the response body.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::BadRequest(why) => why,
            Rejection::UriTooLong => "request target too long",
        }
    }

    /// The status code.
    pub fn status(self) -> StatusCode {
        match self {
            Rejection::BadRequest(_) => StatusCode::BAD_REQUEST,
            Rejection::UriTooLong => StatusCode::URI_TOO_LONG,
        }
    }

    /// A short text response that closes the connection.
    pub fn response(self) -> Response<Body> {
        let status = self.status();
        let text = format!(
            "{} {}: {}\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            self.as_str()
        );
        let mut r = Response::new(body::full(text));
        *r.status_mut() = status;
        let h = r.headers_mut();
        h.insert(CONNECTION, HeaderValue::from_static("close"));
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        r
    }
}

/// Check a request head; `max_uri_bytes` caps the request target.
pub fn check<B>(req: &Request<B>, max_uri_bytes: usize) -> Result<(), Rejection> {
    let uri = req.uri();
    if target_len(uri) > max_uri_bytes {
        return Err(Rejection::UriTooLong);
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(Rejection::BadRequest("userinfo in the request target"));
    }
    let headers = req.headers();
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => return Err(Rejection::BadRequest("more than one Host field")),
        (Some(host), None) if !valid_host(host.as_bytes()) => {
            return Err(Rejection::BadRequest("invalid Host"));
        }
        (None, None) if req.version() == Version::HTTP_11 => {
            return Err(Rejection::BadRequest("missing Host"));
        }
        _ => {}
    }
    if req.version() >= Version::HTTP_2 {
        return Ok(());
    }
    // RFC 9112 §6.1 and §6.3: only `chunked` alone, never with Content-Length.
    let mut te = headers.get_all(TRANSFER_ENCODING).iter();
    let mut cl = headers.get_all(CONTENT_LENGTH).iter();
    match (te.next(), te.next(), cl.next(), cl.next()) {
        (Some(_), Some(_), _, _) => Err(Rejection::BadRequest(
            "more than one Transfer-Encoding field",
        )),
        (Some(_), None, Some(_), _) => Err(Rejection::BadRequest(
            "both Transfer-Encoding and Content-Length",
        )),
        (Some(v), None, None, _) if v.as_bytes() != b"chunked" => Err(Rejection::BadRequest(
            "Transfer-Encoding other than chunked",
        )),
        (_, _, Some(_), Some(_)) => {
            Err(Rejection::BadRequest("more than one Content-Length field"))
        }
        _ => Ok(()),
    }
}

/// Bytes of the request target as sent (origin-form or absolute-form).
fn target_len(uri: &Uri) -> usize {
    uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len())
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2), without userinfo.
fn valid_host(v: &[u8]) -> bool {
    crate::http_cache::canonical::valid_authority(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(version: Version, target: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::get(target).version(version);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn table() {
        use Rejection::*;
        let h11 = Version::HTTP_11;
        let ok: Result<(), Rejection> = Ok(());
        let rows: Vec<(Request<()>, Result<(), Rejection>)> = vec![
            (req(h11, "/", &[("host", "a:80")]), ok),
            (req(Version::HTTP_10, "/", &[]), ok),
            (req(Version::HTTP_2, "http://a/", &[]), ok),
            (
                req(h11, "/", &[("host", "a"), ("transfer-encoding", "chunked")]),
                ok,
            ),
            (req(h11, "/", &[]), Err(BadRequest("missing Host"))),
            (
                req(h11, "/", &[("host", "a"), ("host", "a")]),
                Err(BadRequest("more than one Host field")),
            ),
            (
                req(h11, "/", &[("host", "a b")]),
                Err(BadRequest("invalid Host")),
            ),
            (
                req(h11, "/", &[("host", "u@a")]),
                Err(BadRequest("invalid Host")),
            ),
            (
                req(h11, "/", &[("host", "")]),
                Err(BadRequest("invalid Host")),
            ),
            (
                req(h11, "http://u@a/", &[("host", "a")]),
                Err(BadRequest("userinfo in the request target")),
            ),
            (
                req(h11, "/", &[("host", "a"), ("transfer-encoding", "Chunked")]),
                Err(BadRequest("Transfer-Encoding other than chunked")),
            ),
            (
                req(
                    h11,
                    "/",
                    &[
                        ("host", "a"),
                        ("transfer-encoding", "chunked"),
                        ("content-length", "0"),
                    ],
                ),
                Err(BadRequest("both Transfer-Encoding and Content-Length")),
            ),
            (
                req(
                    h11,
                    "/",
                    &[
                        ("host", "a"),
                        ("content-length", "1"),
                        ("content-length", "1"),
                    ],
                ),
                Err(BadRequest("more than one Content-Length field")),
            ),
            (
                req(h11, &format!("/{}", "x".repeat(100)), &[("host", "a")]),
                Err(UriTooLong),
            ),
        ];
        for (r, want) in rows {
            assert_eq!(check(&r, 64), want, "{r:?}");
        }
    }

    #[test]
    fn a_rejection_closes_the_connection() {
        let r = Rejection::UriTooLong.response();
        assert_eq!(r.status(), 414);
        assert_eq!(r.headers()["connection"], "close");
    }
}
