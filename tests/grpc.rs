//! gRPC through the node to a real gRPC server (tonic) over h2c: unary and
//! bidirectional streaming, trailers, error statuses, and gRPC errors (not
//! HTML pages) when the origin cannot be reached.

use crate::grpc_origin;
use crate::support;

use edgecache::config::Protocol;
use grpc_origin::{Msg, grpc_origin, stalled_h2c_origin};
use http::uri::PathAndQuery;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::{TestNode, test_config};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

/// A gRPC client of the node (h2c, prior knowledge).
async fn client(node: &TestNode) -> tonic::client::Grpc<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(node.url(""))
        .expect("node URL")
        .connect()
        .await
        .expect("connect to the node");
    tonic::client::Grpc::new(channel)
}

async fn unary(
    client: &mut tonic::client::Grpc<tonic::transport::Channel>,
    method: &'static str,
    text: &str,
) -> Result<tonic::Response<Msg>, Status> {
    client.ready().await.expect("client ready");
    let call = client.unary(
        tonic::Request::new(Msg { text: text.into() }),
        PathAndQuery::from_static(method),
        ProstCodec::<Msg, Msg>::default(),
    );
    tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the call finishes")
}

async fn h2c_node(origin: &str, dir: &std::path::Path) -> TestNode {
    let mut cfg = test_config(origin, dir);
    cfg.upstream.protocol = Protocol::H2c;
    TestNode::start(cfg).await
}

#[tokio::test]
async fn unary_call_passes_through_with_te_trailers_and_is_never_cached() {
    let (url, calls) = grpc_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = h2c_node(&url, dir.path()).await;
    let mut c = client(&node).await;
    for _ in 0..2 {
        let resp = unary(&mut c, "/test.Echo/Unary", "hello")
            .await
            .expect("unary call succeeds (grpc-status 0 arrived in trailers)");
        assert_eq!(resp.get_ref().text, "echo hello");
    }
    assert_eq!(
        calls.count.load(Ordering::SeqCst),
        2,
        "a repeated call reaches the origin again: nothing is cached"
    );
    assert_eq!(*calls.te.lock(), vec!["trailers", "trailers"]);
    node.stop().await;
}

#[tokio::test]
async fn bidirectional_stream_interleaves_without_buffering() {
    let (url, _calls) = grpc_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = h2c_node(&url, dir.path()).await;
    let mut c = client(&node).await;
    c.ready().await.expect("client ready");
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(4);
    let requests = tokio_stream::wrappers::ReceiverStream::new(rx);
    tx.send(Msg { text: "one".into() }).await.expect("send");
    let call = c.streaming(
        tonic::Request::new(requests),
        PathAndQuery::from_static("/test.Echo/Bidi"),
        ProstCodec::<Msg, Msg>::default(),
    );
    let mut replies = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("response head in time")
        .expect("stream opens")
        .into_inner();
    let next = async |replies: &mut tonic::Streaming<Msg>| {
        tokio::time::timeout(Duration::from_secs(20), replies.message())
            .await
            .expect("a reply in time")
    };
    // Each reply arrives while the request stream is still open: the node
    // relays frames as they come, in both directions.
    for text in ["two", "three"] {
        let got = next(&mut replies).await.expect("reply").expect("a message");
        assert!(got.text.starts_with("echo "), "{got:?}");
        tx.send(Msg { text: text.into() }).await.expect("send");
    }
    let last = next(&mut replies).await.expect("reply").expect("a message");
    assert_eq!(last.text, "echo three");
    drop(tx);
    assert_eq!(
        next(&mut replies).await.expect("clean end, grpc-status 0"),
        None
    );
    node.stop().await;
}

#[tokio::test]
async fn error_statuses_arrive_in_trailers_with_their_message() {
    let (url, _calls) = grpc_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = h2c_node(&url, dir.path()).await;
    let mut c = client(&node).await;
    let err = unary(&mut c, "/test.Echo/Missing", "x42")
        .await
        .expect_err("NOT_FOUND");
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "no record named x42");

    // After data frames: the status travels in a real trailers frame.
    c.ready().await.expect("client ready");
    let requests = tokio_stream::iter(vec![
        Msg { text: "a".into() },
        Msg {
            text: "fail".into(),
        },
    ]);
    let call = c.streaming(
        tonic::Request::new(requests),
        PathAndQuery::from_static("/test.Echo/Bidi"),
        ProstCodec::<Msg, Msg>::default(),
    );
    let mut replies = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("in time")
        .expect("stream opens")
        .into_inner();
    let first = replies.message().await.expect("first reply");
    assert_eq!(first.map(|m| m.text).as_deref(), Some("echo a"));
    let err = replies.message().await.expect_err("the stream fails");
    assert_eq!(
        (err.code(), err.message()),
        (Code::NotFound, "the stream asked to fail")
    );
    node.stop().await;
}

#[tokio::test]
async fn origin_down_is_grpc_unavailable_not_an_html_502() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A port held for the test that refuses every connection.
    let dead = support::Reserved::new();
    let node = h2c_node(&dead.url(), dir.path()).await;
    let mut c = client(&node).await;
    let err = unary(&mut c, "/test.Echo/Unary", "x")
        .await
        .expect_err("origin is down");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(err.message(), "the origin could not be reached");
    node.stop().await;
}

#[tokio::test]
async fn origin_too_slow_is_grpc_deadline_exceeded() {
    let (url, _calls) = grpc_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&url, dir.path());
    cfg.upstream.protocol = Protocol::H2c;
    cfg.upstream.first_byte_timeout_ms = 200;
    let node = TestNode::start(cfg).await;
    let mut c = client(&node).await;
    let err = unary(&mut c, "/test.Echo/Slow", "x")
        .await
        .expect_err("origin too slow");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    node.stop().await;
}

#[tokio::test]
async fn grpc_to_an_http1_origin_is_refused_as_unavailable() {
    let (url, calls) = grpc_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&url, dir.path())).await;
    let mut c = client(&node).await;
    let err = unary(&mut c, "/test.Echo/Unary", "x")
        .await
        .expect_err("HTTP/1.1 origin");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("HTTP/2"), "{}", err.message());
    assert_eq!(
        calls.count.load(Ordering::SeqCst),
        0,
        "never sent over HTTP/1.1"
    );
    node.stop().await;
}

/// One gRPC call by hand over h2c (no client-side deadline enforcement):
/// the response head, and whether the body was empty.
async fn raw_call(
    node: &TestNode,
    path: &str,
    extra: &[(&str, &str)],
) -> (http::response::Parts, bool) {
    let tcp = tokio::net::TcpStream::connect(node.addr)
        .await
        .expect("connect");
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    let msg = prost::Message::encode_to_vec(&Msg { text: "x".into() });
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    framed.extend_from_slice(&msg);
    let mut req = http::Request::post(format!("http://{}{path}", node.addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (n, v) in extra {
        req = req.header(*n, *v);
    }
    let req = req.body(edgecache::body::full(framed)).expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(20), send.send_request(req))
        .await
        .expect("the node answers well before its own 30 s timeout")
        .expect("response");
    let (parts, body) = resp.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .expect("body")
        .to_bytes();
    (parts, body.is_empty())
}

#[tokio::test]
async fn the_clients_grpc_timeout_caps_the_origin_exchange() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = h2c_node(&stalled_h2c_origin().await, dir.path()).await;
    let (head, empty) = raw_call(&node, "/test.Echo/Unary", &[("grpc-timeout", "200m")]).await;
    // A trailers-only gRPC response, not an HTTP error page.
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["content-type"], "application/grpc");
    assert_eq!(head.headers["grpc-status"], "4", "DEADLINE_EXCEEDED");
    assert_eq!(
        head.headers["grpc-message"],
        "the origin did not answer in time"
    );
    assert!(empty, "no body");
    node.stop().await;
}
