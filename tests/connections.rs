//! Client connections cannot pin the node (issue 11 §2): silent and
//! half-preface sockets, idle keep-alive and HTTP/2 connections are closed,
//! connection caps hold in total and per address, and a client that stops
//! reading loses its connection, which frees the origin side.

use crate::support;

use bytes::Bytes;
use edgecache::config::Config;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use support::raw_client::{self, read_until_closed};
use support::{Origin, TestNode, reply, test_config};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Generous: only a hang fails, never a slow machine.
const DEADLINE: Duration = Duration::from_secs(30);

async fn node_with(
    origin: &Origin,
    tweak: impl FnOnce(&mut Config),
) -> (TestNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    tweak(&mut cfg);
    (TestNode::start(cfg).await, dir)
}

async fn ok_origin() -> Origin {
    Origin::start(|_| reply(200, &[("cache-control", "no-store")], "ok")).await
}

/// Poll `cond` until it holds or the deadline passes.
async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_silent_or_half_preface_connection_is_closed_without_an_answer() {
    let origin = ok_origin().await;
    let (node, _dir) = node_with(&origin, |c| c.server.first_bytes_timeout_secs = 1).await;
    for sent in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
        let mut s = TcpStream::connect(node.addr).await.expect("connect");
        s.write_all(sent).await.expect("write");
        let (bytes, closed) = read_until_closed(&mut s, DEADLINE).await;
        assert!(closed, "connection after {sent:?} still open");
        assert!(bytes.is_empty(), "answered {bytes:?}");
    }
    assert_eq!(origin.seen().len(), 0);
    node.stop().await;
}

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed() {
    let origin = ok_origin().await;
    let (node, _dir) = node_with(&origin, |c| c.server.header_read_timeout_secs = 1).await;
    let mut s = TcpStream::connect(node.addr).await.expect("connect");
    s.write_all(b"GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let (bytes, closed) = read_until_closed(&mut s, DEADLINE).await;
    assert!(closed, "idle keep-alive connection still open");
    let (responses, _) = raw_client::parse_responses(&bytes);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 200);
    assert_ne!(responses[0].header("connection"), Some("close"));
    node.stop().await;
}

#[tokio::test]
async fn an_idle_http2_connection_gets_goaway_and_is_closed() {
    let origin = ok_origin().await;
    let (node, _dir) = node_with(&origin, |c| c.server.h2_idle_timeout_secs = 1).await;
    let stream = TcpStream::connect(node.addr).await.expect("connect");
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2c handshake");
    let conn = tokio::spawn(conn);
    let req = http::Request::get(node.url("/h2-idle"))
        .body(edgecache::body::empty())
        .expect("request");
    let resp = send.send_request(req).await.expect("response");
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"ok");
    // The node ends the connection; the client's connection task returns.
    let ended = tokio::time::timeout(DEADLINE, conn).await;
    assert!(ended.is_ok(), "idle h2 connection still open");
    node.stop().await;
}

/// Open `n` connections that have sent a byte (so they are past the
/// first-bytes wait) and wait until the node holds all of them.
async fn hold(node: &TestNode, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        let mut s = TcpStream::connect(node.addr).await.expect("connect");
        s.write_all(b"G").await.expect("write");
        held.push(s);
    }
    held
}

/// True once a fresh connection is answered 200.
async fn answered(node: &TestNode) -> bool {
    let ex = raw_client::exchange(
        node.addr,
        b"GET /cap HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        DEADLINE,
    )
    .await;
    ex.responses.first().map(|r| r.status) == Some(200)
}

async fn assert_refused(node: &TestNode) {
    let ex =
        raw_client::exchange(node.addr, b"GET /cap HTTP/1.1\r\nHost: a\r\n\r\n", DEADLINE).await;
    assert!(ex.closed, "over the cap, still open");
    assert!(
        ex.responses.is_empty(),
        "over the cap, answered {:?}",
        ex.responses
    );
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_closed_at_once() {
    let origin = ok_origin().await;
    let (node, _dir) = node_with(&origin, |c| c.server.max_connections_per_ip = 2).await;
    let mut held = hold(&node, 2).await;
    assert_refused(&node).await;
    held.pop();
    eventually("a slot frees when a connection closes", async || {
        answered(&node).await
    })
    .await;
    drop(held);
    node.stop().await;
}

#[tokio::test]
async fn connections_over_the_total_cap_are_closed_at_once() {
    let origin = ok_origin().await;
    let (node, _dir) = node_with(&origin, |c| c.server.max_connections = 3).await;
    let mut held = hold(&node, 3).await;
    assert_refused(&node).await;
    held.pop();
    eventually("a slot frees when a connection closes", async || {
        answered(&node).await
    })
    .await;
    drop(held);
    node.stop().await;
}

/// A 64 MiB uncacheable body, streamed in 64 KiB pieces, that records how
/// much was produced and whether it was dropped before its end.
fn endless_origin_body(
    sent: Arc<AtomicU64>,
    dropped: Arc<AtomicBool>,
) -> http::Response<edgecache::body::Body> {
    struct OnDrop(Arc<AtomicBool>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let piece = Bytes::from(vec![b'x'; 64 << 10]);
    let guard = OnDrop(dropped);
    let frames = futures_util::stream::unfold((0usize, guard), move |(i, guard)| {
        let (piece, sent) = (piece.clone(), sent.clone());
        async move {
            if i == 1024 {
                return None;
            }
            sent.fetch_add(piece.len() as u64, Ordering::SeqCst);
            Some((
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(piece)),
                (i + 1, guard),
            ))
        }
    });
    let mut r = http::Response::new(edgecache::body::boxed(http_body_util::StreamBody::new(
        frames,
    )));
    r.headers_mut()
        .insert("cache-control", "no-store".parse().expect("value"));
    r
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_the_origin_released() {
    let sent = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let (s2, d2) = (sent.clone(), dropped.clone());
    let origin = Origin::start(move |_| endless_origin_body(s2.clone(), d2.clone())).await;
    let (node, _dir) = node_with(&origin, |c| {
        c.server.send_timeout_secs = 1;
        // Only the send timeout may end this exchange.
        c.upstream.idle_timeout_ms = 0;
    })
    .await;
    let mut client = TcpStream::connect(node.addr).await.expect("connect");
    client
        .write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    // Never read: the node's writes block, then time out.
    eventually("the origin's response body is dropped", async || {
        dropped.load(Ordering::SeqCst)
    })
    .await;
    assert!(
        sent.load(Ordering::SeqCst) < 64 << 20,
        "the origin was stopped before sending its whole body"
    );
    let (bytes, closed) = read_until_closed(&mut client, DEADLINE).await;
    assert!(closed, "the stalled client's connection is closed");
    assert!(bytes.len() < 64 << 20, "the client got a cut response");
    node.stop().await;
}

#[tokio::test]
async fn an_http2_request_head_over_the_limit_is_refused() {
    let origin = ok_origin().await;
    let (node, _dir) = node_with(&origin, |_| {}).await;
    let stream = TcpStream::connect(node.addr).await.expect("connect");
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2c handshake");
    tokio::spawn(conn);
    let req = http::Request::get(node.url("/h2-big"))
        .header("x-big", "b".repeat(40 << 10))
        .body(edgecache::body::empty())
        .expect("request");
    let answer = tokio::time::timeout(DEADLINE, send.send_request(req))
        .await
        .expect("an answer, not a hang");
    // The specific refusal: 431 on this stream (RFC 6585 §5; RFC 9113
    // §10.5.1), not just any error (a refused stream, a reset or a closed
    // connection would also be "not a timeout").
    let resp = answer.unwrap_or_else(|e| panic!("a 431 answer, not an error: {e:?}"));
    assert_eq!(resp.status(), 431);
    assert_eq!(origin.count("/h2-big"), 0);
    // It refused the stream, not the connection: the next request on the
    // same connection is served.
    let small = http::Request::get(node.url("/h2-small"))
        .body(edgecache::body::empty())
        .expect("request");
    let next = tokio::time::timeout(DEADLINE, send.send_request(small))
        .await
        .expect("an answer, not a hang")
        .expect("the connection still serves");
    assert_eq!(next.status(), 200);
    assert_eq!(origin.count("/h2-small"), 1);
    node.stop().await;
}

#[test]
fn out_of_range_connection_settings_are_refused_naming_the_field() {
    let cases: Vec<(&str, Box<dyn Fn(&mut Config)>)> = vec![
        (
            "server.send_timeout_secs",
            Box::new(|c| c.server.send_timeout_secs = u64::MAX),
        ),
        (
            "server.first_bytes_timeout_secs",
            Box::new(|c| c.server.first_bytes_timeout_secs = 0),
        ),
        (
            "server.h2_idle_timeout_secs",
            Box::new(|c| c.server.h2_idle_timeout_secs = 86_401),
        ),
        (
            "server.header_read_timeout_secs",
            Box::new(|c| c.server.header_read_timeout_secs = u64::MAX),
        ),
        (
            "server.max_connections_per_ip",
            Box::new(|c| c.server.max_connections_per_ip = 0),
        ),
        (
            "server.max_request_head_bytes",
            Box::new(|c| c.server.max_request_head_bytes = 100),
        ),
        (
            "server.max_uri_bytes",
            Box::new(|c| c.server.max_uri_bytes = 1 << 20),
        ),
    ];
    assert!(Config::default().validate().is_ok());
    for (field, tweak) in cases {
        let mut cfg = Config::default();
        tweak(&mut cfg);
        let err = cfg.validate().expect_err(field).to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
}
