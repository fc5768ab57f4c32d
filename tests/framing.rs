//! HTTP/1.1 request framing strictness (issue 11 §3), as one table of raw
//! requests against the real node and an origin that records what reached
//! it: ambiguous or malformed framing is refused with 400 (431/414 for the
//! size limits) and the connection closed; valid but unusual requests
//! (chunk extensions, obs-text, trailers) are forwarded intact.

use crate::support;

use bytes::Bytes;
use edgecache::body;
use http::{HeaderMap, Request, Response};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use support::raw_client;
use support::{TestNode, test_config};

/// A request as the origin received it, body and trailers complete.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    trailers: Option<HeaderMap>,
}

/// An origin recording every request whose body arrived complete.
async fn recording_origin() -> (SocketAddr, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind origin");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen2.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let (parts, b) = req.into_parts();
                        if let Ok(collected) = b.collect().await {
                            let trailers = collected.trailers().cloned();
                            seen.lock().push(Received {
                                path: parts.uri.path().to_string(),
                                headers: parts.headers,
                                body: collected.to_bytes(),
                                trailers,
                            });
                        }
                        let mut r = Response::new(body::full("ok"));
                        r.headers_mut()
                            .insert("cache-control", "no-store".parse().expect("value"));
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// What the origin must have received for a row.
#[derive(Clone, Copy, Debug)]
enum AtOrigin {
    /// No complete request for the row's path.
    Nothing,
    /// The request, with this body.
    Body(&'static [u8]),
    /// The request, with this body and this trailer field.
    Trailer(&'static [u8], &'static str, &'static str),
    /// The request, with this header value (bytes, obs-text allowed).
    Header(&'static str, &'static [u8]),
}

/// One row: a name, the request (`/P` is replaced by the row's own path),
/// the expected status, whether the node must close the connection after
/// it, and what the origin must have received.
type Row = (&'static str, Vec<u8>, u16, bool, AtOrigin);

fn rows() -> Vec<Row> {
    use AtOrigin::*;
    let r = |s: &str| s.as_bytes().to_vec();
    let big_header = format!(
        "GET /P HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "b".repeat(40 * 1024)
    );
    let long_uri = format!(
        "GET /P?{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "q".repeat(10 * 1024)
    );
    let many_headers = format!(
        "GET /P HTTP/1.1\r\nHost: a\r\n{}\r\n",
        (0..150)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let mut obs_text = r("POST /P HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX-Obs: caf");
    obs_text.extend_from_slice(b"\xe9\r\n\r\nhi");
    vec![
        // Valid requests: forwarded, connection kept.
        (
            "content-length body",
            r("POST /P HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
            200,
            false,
            Body(b"hello"),
        ),
        (
            "chunked body",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            ),
            200,
            false,
            Body(b"hello"),
        ),
        (
            "chunk extensions",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;x\r\nhello\r\n0;end\r\n\r\n",
            ),
            200,
            false,
            Body(b"hello"),
        ),
        (
            "chunked trailers",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: x-trailer\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t1\r\n\r\n",
            ),
            200,
            false,
            Trailer(b"hello", "x-trailer", "t1"),
        ),
        (
            "obs-text in a value",
            obs_text,
            200,
            false,
            Header("x-obs", b"caf\xe9"),
        ),
        (
            "plain GET",
            r("GET /P HTTP/1.1\r\nHost: a\r\n\r\n"),
            200,
            false,
            Body(b""),
        ),
        // Ambiguous framing.
        (
            "content-length and transfer-encoding",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "transfer-encoding identity",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "transfer-encoding chunked, chunked",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "two transfer-encoding fields",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "transfer-encoding odd case",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "transfer-encoding gzip, chunked",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "transfer-encoding with a tab inside",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t,\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "GET with content-length 0 and transfer-encoding",
            r(
                "GET /P HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "two equal content-length fields",
            r("POST /P HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
            400,
            true,
            Nothing,
        ),
        (
            "two different content-length fields",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "content-length with a sign",
            r("POST /P HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello"),
            400,
            true,
            Nothing,
        ),
        // Malformed chunk framing.
        (
            "bad chunk size",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "missing CRLF after chunk data",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "chunk size overflow",
            r(
                "POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
            ),
            400,
            true,
            Nothing,
        ),
        (
            "bare LF in chunk framing",
            r("POST /P HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n"),
            400,
            true,
            Nothing,
        ),
        // Malformed heads.
        (
            "bare LF line endings",
            r("GET /P HTTP/1.1\nHost: a\n\n"),
            400,
            true,
            Nothing,
        ),
        (
            "one bare LF in the head",
            r("GET /P HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n"),
            400,
            true,
            Nothing,
        ),
        (
            "whitespace before the colon",
            r("GET /P HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n"),
            400,
            true,
            Nothing,
        ),
        (
            "obs-fold",
            r("GET /P HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"),
            400,
            true,
            Nothing,
        ),
        (
            "NUL in a value",
            r("GET /P HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n"),
            400,
            true,
            Nothing,
        ),
        (
            "CR in a value",
            r("GET /P HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n"),
            400,
            true,
            Nothing,
        ),
        (
            "invalid Host",
            r("GET /P HTTP/1.1\r\nHost: a b\r\n\r\n"),
            400,
            true,
            Nothing,
        ),
        (
            "Host with a path",
            r("GET /P HTTP/1.1\r\nHost: a/b\r\n\r\n"),
            400,
            true,
            Nothing,
        ),
        (
            "two Host fields",
            r("GET /P HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            400,
            true,
            Nothing,
        ),
        (
            "missing Host on HTTP/1.1",
            r("GET /P HTTP/1.1\r\nX-A: b\r\n\r\n"),
            400,
            true,
            Nothing,
        ),
        (
            "userinfo in the target",
            r("GET http://user:pw@a/P HTTP/1.1\r\nHost: a\r\n\r\n"),
            400,
            true,
            Nothing,
        ),
        (
            "userinfo in Host",
            r("GET /P HTTP/1.1\r\nHost: user@a\r\n\r\n"),
            400,
            true,
            Nothing,
        ),
        // Size limits.
        (
            "request head over the limit",
            big_header.into_bytes(),
            431,
            true,
            Nothing,
        ),
        (
            "too many header fields",
            many_headers.into_bytes(),
            431,
            true,
            Nothing,
        ),
        (
            "URI over the limit",
            long_uri.into_bytes(),
            414,
            true,
            Nothing,
        ),
    ]
}

fn with_path(template: &[u8], path: &str) -> Vec<u8> {
    let at = template
        .windows(2)
        .position(|w| w == b"/P")
        .expect("row has /P");
    let mut out = template[..at].to_vec();
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(&template[at + 2..]);
    out
}

/// Run one row; `Err` explains every way it differs from the expectation.
async fn run_row(
    node: SocketAddr,
    seen: &Mutex<Vec<Received>>,
    i: usize,
    row: &Row,
) -> Result<(), String> {
    let (name, template, status, closes, at_origin) = row;
    let path = format!("/row{i}");
    let mut bytes = with_path(template, &path);
    let follow = format!("/row{i}-next");
    if !closes {
        // A second request proves the connection stayed usable.
        bytes.extend_from_slice(
            format!("GET {follow} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        );
    }
    let ex = raw_client::exchange(node, &bytes, Duration::from_secs(5)).await;
    let mut errors = Vec::new();
    match ex.responses.first() {
        Some(first) if first.status == *status => {}
        Some(first) => errors.push(format!("status {} (want {status})", first.status)),
        None => errors.push(format!(
            "no response (closed: {}, bytes: {:?})",
            ex.closed,
            String::from_utf8_lossy(&ex.leftover)
        )),
    }
    if *closes {
        if !ex.closed {
            errors.push("connection left open".into());
        } else if ex.responses.len() > 1 {
            errors.push(format!("{} responses", ex.responses.len()));
        }
        if let Some(first) = ex.responses.first()
            && first.status >= 400
            && !first
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            errors.push("rejection without Connection: close".into());
        }
    } else if ex.responses.get(1).map(|r| r.status) != Some(200) {
        errors.push("connection not usable for a second request".into());
    }
    let got: Vec<Received> = seen
        .lock()
        .iter()
        .filter(|r| r.path == path)
        .cloned()
        .collect();
    match (at_origin, got.first()) {
        (AtOrigin::Nothing, None) => {}
        (AtOrigin::Nothing, Some(r)) => {
            errors.push(format!("origin received it (body {:?})", r.body));
        }
        (_, None) => errors.push("origin received nothing".into()),
        (AtOrigin::Body(b), Some(r)) => {
            if &r.body[..] != *b {
                errors.push(format!("origin body {:?}", r.body));
            }
        }
        (AtOrigin::Trailer(b, n, v), Some(r)) => {
            if &r.body[..] != *b {
                errors.push(format!("origin body {:?}", r.body));
            }
            let t = r.trailers.as_ref().and_then(|t| t.get(*n));
            if t.map(|t| t.as_bytes()) != Some(v.as_bytes()) {
                errors.push(format!("origin trailers {:?}", r.trailers));
            }
        }
        (AtOrigin::Header(n, v), Some(r)) => {
            if r.headers.get(*n).map(|h| h.as_bytes()) != Some(*v) {
                errors.push(format!("origin header {n}: {:?}", r.headers.get(*n)));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}: {}", errors.join("; ")))
    }
}

#[tokio::test]
async fn malformed_framing_is_refused_and_closed_valid_framing_is_forwarded() {
    let (origin, seen) = recording_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&format!("http://{origin}"), dir.path())).await;
    let rows = rows();
    let results = futures_util::future::join_all(
        rows.iter()
            .enumerate()
            .map(|(i, row)| run_row(node.addr, &seen, i, row)),
    )
    .await;
    let mut report = String::new();
    for (row, result) in rows.iter().zip(&results) {
        match result {
            Ok(()) => report.push_str(&format!("PASS {}\n", row.0)),
            Err(e) => report.push_str(&format!("FAIL {e}\n")),
        }
    }
    println!("{report}");
    assert!(results.iter().all(Result::is_ok), "\n{report}");
    node.stop().await;
}

#[tokio::test]
async fn a_malformed_head_after_a_valid_pipelined_request_is_refused_in_order() {
    let (origin, seen) = recording_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&format!("http://{origin}"), dir.path())).await;
    let bytes = b"POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\nGET /x HTTP/1.1\n\n\
GET /second HTTP/1.1\r\nHost: a\nX: y\r\n\r\nGET /third HTTP/1.1\r\nHost: a\r\n\r\n";
    let ex = raw_client::exchange(node.addr, bytes, Duration::from_secs(10)).await;
    let statuses: Vec<u16> = ex.responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 400], "{ex:?}");
    assert!(ex.closed);
    let paths: Vec<String> = seen.lock().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/first"]);
    assert_eq!(&seen.lock()[0].body[..], b"GET /x HTTP/1.1\n\n");
    node.stop().await;
}

/// A request-body error is the client's, not the origin's
/// (`SendError::Http(e)` with `e.is_user()`): it never counts against the
/// origin's breaker, so a few malformed chunked uploads cannot make every
/// client get 502 for `breaker_cooldown_secs` (they did on bfa44e9).
#[tokio::test]
async fn malformed_request_bodies_do_not_open_the_origin_breaker() {
    let (origin, _seen) = recording_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&format!("http://{origin}"), dir.path())).await;
    for i in 0..8 {
        let bad = format!(
            "POST /bad{i} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"
        );
        let ex = raw_client::exchange(node.addr, bad.as_bytes(), Duration::from_secs(10)).await;
        assert_eq!(ex.responses.first().map(|r| r.status), Some(400), "{ex:?}");
    }
    let ex = raw_client::exchange(
        node.addr,
        b"GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        ex.responses.first().map(|r| r.status),
        Some(200),
        "a client's bad body counted against the origin: {:?}",
        ex.responses
            .first()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
    );
    node.stop().await;
}
