//! WebSocket through the node, with real clients and servers on loopback:
//! echo over HTTP/1.1 Upgrade and over HTTP/2 extended CONNECT (bridged to
//! an HTTP/1.1 upgrade upstream), the tunnel limits, the idle timeout, the
//! drain, what the origin receives, and what is never cached.

use crate::support;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use support::{Origin, TestNode, reply, test_config};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{
    Request as WsRequest, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const WAIT: Duration = Duration::from_secs(15);

/// A WebSocket echo server that records each handshake's request fields
/// and picks the `chat` subprotocol when offered.
struct WsOrigin {
    addr: SocketAddr,
    handshakes: Arc<Mutex<Vec<HeaderMap>>>,
}

impl WsOrigin {
    async fn start() -> WsOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let seen = handshakes.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    // tungstenite's callback type, not ours.
                    #[allow(clippy::result_large_err)]
                    let record = |req: &WsRequest, mut resp: WsResponse| {
                        seen.lock().push(req.headers().clone());
                        let offered = req
                            .headers()
                            .get("sec-websocket-protocol")
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.split(',').any(|p| p.trim() == "chat"));
                        if offered {
                            resp.headers_mut().insert(
                                "sec-websocket-protocol",
                                http::HeaderValue::from_static("chat"),
                            );
                        }
                        Ok(resp)
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record).await
                    else {
                        return;
                    };
                    while let Some(Ok(msg)) = ws.next().await {
                        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        WsOrigin { addr, handshakes }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn handshakes(&self) -> Vec<HeaderMap> {
        self.handshakes.lock().clone()
    }
}

/// A raw origin: answers a handshake with 101 (and the right accept key
/// unless `wrong_accept`), then echoes every byte it gets.
async fn raw_echo_origin(wrong_accept: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (head, rest) = read_head(&mut s).await;
                let key = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("sec-websocket-key")
                            .then(|| v.trim().to_string())
                    })
                    .unwrap_or_default();
                let accept = if wrong_accept {
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string()
                } else {
                    edgecache::proxy::tunnel::handshake::accept_key(key.as_bytes())
                };
                let head = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                );
                if s.write_all(head.as_bytes()).await.is_err() || s.write_all(&rest).await.is_err()
                {
                    return;
                }
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    format!("http://{addr}")
}

/// Read up to the end of a head; returns it and any bytes after it.
async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> (String, Vec<u8>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = seen.split_off(end + 4);
            return (String::from_utf8_lossy(&seen).into_owned(), rest);
        }
        match tokio::time::timeout(WAIT, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => {
                return (String::from_utf8_lossy(&seen).into_owned(), Vec::new());
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

type Handshake = Result<
    (
        WebSocketStream<TcpStream>,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    WsError,
>;

/// A WebSocket client over HTTP/1.1 to the node, for `host` and `path`.
async fn h1_client(node: &TestNode, host: &str, path: &str, extra: &[(&str, &str)]) -> Handshake {
    let stream = TcpStream::connect(node.addr).await.expect("connect");
    let mut req = format!("ws://{host}{path}")
        .into_client_request()
        .expect("request");
    for (n, v) in extra {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
            http::HeaderValue::from_str(v).expect("value"),
        );
    }
    tokio::time::timeout(WAIT, tokio_tungstenite::client_async(req, stream))
        .await
        .expect("handshake in time")
}

/// The status of a refused handshake.
fn refused(r: Handshake) -> (StatusCode, HeaderMap, String) {
    match r {
        Err(WsError::Http(resp)) => {
            let body = resp.body().as_deref().map(String::from_utf8_lossy);
            let body = body.map(|b| b.into_owned()).unwrap_or_default();
            (resp.status(), resp.headers().clone(), body)
        }
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok((_, resp)) => panic!("expected a refusal, got {}", resp.status()),
    }
}

async fn next<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> Message {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a message in time")
        .expect("stream open")
        .expect("a message")
}

/// Text and binary (with HTTP-looking bytes, NULs and a message larger
/// than the node's buffers) echo back intact.
async fn echoes<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) {
    ws.send(Message::text("hello, origin")).await.expect("send");
    assert_eq!(next(ws).await, Message::text("hello, origin"));
    let tricky =
        Bytes::from_static(b"\x00\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n0\r\n\r\n\x00\xff");
    ws.send(Message::binary(tricky.clone()))
        .await
        .expect("send");
    assert_eq!(next(ws).await, Message::binary(tricky));
    let big: Bytes = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.expect("send");
    assert_eq!(next(ws).await, Message::binary(big));
}

#[tokio::test]
async fn http11_upgrade_echoes_both_ways_and_reaches_the_origin_every_time() {
    let origin = WsOrigin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let extra = [
        ("x-forwarded-host", "evil.example"),
        ("x-original-url", "/admin"),
        ("sec-websocket-protocol", "chat"),
    ];
    let (mut ws, resp) = h1_client(&node, "site.test", "/chat?room=1", &extra)
        .await
        .expect("switched");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
    assert!(
        resp.headers().get("cache-status").is_none(),
        "the cache plays no part"
    );
    assert!(
        resp.headers()["via"]
            .to_str()
            .expect("via")
            .contains("edgecache")
    );
    echoes(&mut ws).await;

    let seen = origin.handshakes();
    assert_eq!(seen.len(), 1);
    let h = &seen[0];
    assert_eq!(h["upgrade"], "websocket");
    assert!(
        h["connection"]
            .to_str()
            .expect("ascii")
            .eq_ignore_ascii_case("upgrade")
    );
    assert_eq!(h["sec-websocket-version"], "13");
    assert_eq!(h["sec-websocket-protocol"], "chat");
    assert_eq!(h["host"], "site.test");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert!(h["via"].to_str().expect("via").contains("edgecache"));
    assert!(h.get("x-forwarded-host").is_none() && h.get("x-original-url").is_none());

    ws.close(None).await.expect("close");
    // Never cached: the same handshake reaches the origin again.
    let (mut again, _) = h1_client(&node, "site.test", "/chat?room=1", &[])
        .await
        .expect("switched again");
    again.send(Message::text("twice")).await.expect("send");
    assert_eq!(next(&mut again).await, Message::text("twice"));
    assert_eq!(origin.handshakes().len(), 2);
    node.stop().await;
}

/// After the 101 the node's strict HTTP/1.1 framing checks are off: bytes
/// that look like requests, smuggling attempts or NULs go through as sent.
#[tokio::test]
async fn bytes_after_the_switch_are_not_parsed_as_http() {
    let origin = raw_echo_origin(false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin, dir.path())).await;
    let mut s = TcpStream::connect(node.addr).await.expect("connect");
    s.write_all(
        b"GET /raw HTTP/1.1\r\nHost: raw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("write");
    let (head, rest) = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    assert!(rest.is_empty());
    let payloads: [&[u8]; 3] = [
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        b"\x00\x00\x00 nul \x00\r\n0\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n\x82\x7f\xff\xff",
    ];
    for p in payloads {
        s.write_all(p).await.expect("write");
        let mut back = vec![0u8; p.len()];
        tokio::time::timeout(WAIT, s.read_exact(&mut back))
            .await
            .expect("echo in time")
            .expect("echo");
        assert_eq!(back, p);
    }
    node.stop().await;
}

/// An HTTP/2 extended CONNECT for `path` on a fresh h2c connection.
async fn h2_connect(
    node: &TestNode,
    path: &str,
    protocol: Option<&str>,
) -> (
    http::Response<hyper::body::Incoming>,
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
) {
    let stream = TcpStream::connect(node.addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    // Extended CONNECT needs the node's SETTINGS, which come just after.
    for attempt in 0.. {
        let mut req = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("http://h2.test{path}"))
            .header("sec-websocket-version", "13");
        if let Some(p) = protocol {
            req = req.header("sec-websocket-protocol", p);
        }
        let mut req = req.body(http_body_util::Empty::new()).expect("request");
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        match tokio::time::timeout(WAIT, sender.send_request(req)).await {
            Ok(Ok(resp)) => return (resp, sender),
            Ok(Err(e)) if attempt < 100 => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(Err(e)) => panic!("extended CONNECT failed: {e}"),
            Err(_) => panic!("no answer to the extended CONNECT"),
        }
    }
    unreachable!()
}

#[tokio::test]
async fn http2_extended_connect_is_bridged_to_an_http11_upgrade() {
    let origin = WsOrigin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let (resp, _sender) = h2_connect(&node, "/chat", Some("chat")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
    assert!(resp.headers().get("sec-websocket-accept").is_none());
    assert!(resp.headers().get("cache-status").is_none());
    let upgraded = hyper::upgrade::on(resp).await.expect("upgraded stream");
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    echoes(&mut ws).await;

    let seen = origin.handshakes();
    assert_eq!(seen.len(), 1, "one HTTP/1.1 upgrade upstream");
    let h = &seen[0];
    assert_eq!(h["upgrade"], "websocket");
    assert_eq!(h["sec-websocket-version"], "13");
    assert_eq!(h["sec-websocket-protocol"], "chat");
    assert_eq!(
        h["sec-websocket-key"].len(),
        24,
        "a fresh key from the node"
    );
    assert_eq!(h["host"], "h2.test");
    assert!(h["via"].to_str().expect("via").starts_with("2 "));
    ws.close(None).await.expect("close");
    node.stop().await;
}

#[tokio::test]
async fn tunnels_over_the_site_limit_get_503_until_one_closes() {
    let origin = WsOrigin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.websocket.max_tunnels_per_site = 1;
    let node = TestNode::start(cfg).await;
    let (mut first, _) = h1_client(&node, "a.test", "/", &[])
        .await
        .expect("first tunnel");
    let (status, headers, _) = refused(h1_client(&node, "a.test", "/", &[]).await);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.get("cache-status").is_none());
    let (resp, _sender) = h2_connect(&node, "/", None).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "HTTP/2 too");
    assert_eq!(origin.handshakes().len(), 1, "refused before the origin");
    let m = support::metrics(node.admin_addr).await;
    assert!(
        m.contains("edgecache_websocket_tunnels_refused_total 2"),
        "{m}"
    );
    assert!(m.contains("edgecache_websocket_tunnels_open 1"), "{m}");

    first.close(None).await.expect("close");
    drop(first);
    let mut admitted = None;
    for _ in 0..200 {
        if let Ok((ws, _)) = h1_client(&node, "a.test", "/", &[]).await {
            admitted = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut ws = admitted.expect("a slot frees when the tunnel closes");
    ws.send(Message::text("in")).await.expect("send");
    assert_eq!(next(&mut ws).await, Message::text("in"));
    node.stop().await;
}

#[tokio::test]
async fn idle_tunnels_are_closed_and_counted() {
    let origin = WsOrigin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.websocket.idle_timeout_secs = 1;
    let node = TestNode::start(cfg).await;
    let (mut ws, _) = h1_client(&node, "a.test", "/", &[]).await.expect("tunnel");
    ws.send(Message::text("ping")).await.expect("send");
    assert_eq!(next(&mut ws).await, Message::text("ping"));
    // Nothing more is sent: the node closes the tunnel.
    let end = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("closed in time");
    assert!(
        !matches!(end, Some(Ok(Message::Text(_) | Message::Binary(_)))),
        "{end:?}"
    );
    let mut m = String::new();
    for _ in 0..200 {
        m = support::metrics(node.admin_addr).await;
        if m.contains("edgecache_websocket_tunnels_closed_idle_total 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        m.contains("edgecache_websocket_tunnels_closed_idle_total 1"),
        "{m}"
    );
    assert!(
        m.contains("edgecache_websocket_tunnels_opened_total 1"),
        "{m}"
    );
    assert!(m.contains("edgecache_websocket_tunnels_open 0"), "{m}");
    node.stop().await;
}

/// The drain closes tunnels instead of waiting out the drain timeout.
#[tokio::test]
async fn draining_closes_open_tunnels() {
    let origin = WsOrigin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.server.drain_timeout_secs = 120;
    let node = TestNode::start(cfg).await;
    let (mut ws, _) = h1_client(&node, "a.test", "/", &[]).await.expect("tunnel");
    let (resp, _sender) = h2_connect(&node, "/", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    ws.send(Message::text("x")).await.expect("send");
    assert_eq!(next(&mut ws).await, Message::text("x"));
    tokio::time::timeout(Duration::from_secs(60), node.stop())
        .await
        .expect("the drain does not wait for tunnels");
    let end = tokio::time::timeout(WAIT, ws.next()).await.expect("closed");
    assert!(!matches!(end, Some(Ok(Message::Text(_)))), "{end:?}");
}

#[tokio::test]
async fn an_origin_refusal_is_passed_through_uncached() {
    let origin = Origin::start(|_| {
        reply(
            403,
            &[("cache-control", "max-age=600")],
            "no websockets here",
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    for round in 1..=2 {
        let (status, headers, body) = refused(h1_client(&node, "a.test", "/chat", &[]).await);
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body, "no websockets here");
        assert!(headers.get("cache-status").is_none());
        assert_eq!(origin.count("/chat"), round, "never from the cache");
    }
    let seen = origin.seen();
    assert_eq!(seen[0].headers["upgrade"], "websocket");
    // A plain GET of the same URL is not answered from a stored refusal either.
    let got = support::get(&node.url("/chat")).await;
    assert_eq!(got.status, 403);
    assert_eq!(origin.count("/chat"), 3);
    // Over HTTP/2 the refusal comes back as it came too.
    let (resp, _sender) = h2_connect(&node, "/chat", None).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("cache-status").is_none());
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&body[..], b"no websockets here");
    assert_eq!(origin.count("/chat"), 4);
    node.stop().await;
}

/// A 200 instead of a 101 reaches an HTTP/1.1 client as it came; over
/// HTTP/2 a 2xx would open the client's tunnel with nothing behind it, so
/// it is a 502.
#[tokio::test]
async fn a_200_instead_of_a_switch_is_passed_on_http11_and_a_502_on_http2() {
    let origin = Origin::start(|_| reply(200, &[], "a plain page")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let (status, _, body) = refused(h1_client(&node, "a.test", "/", &[]).await);
    assert_eq!((status, body.as_str()), (StatusCode::OK, "a plain page"));
    let (resp, _sender) = h2_connect(&node, "/", None).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(origin.count("/"), 2);
    node.stop().await;
}

#[tokio::test]
async fn a_switch_with_the_wrong_accept_key_is_a_502() {
    let origin = raw_echo_origin(true).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin, dir.path())).await;
    let (status, _, _) = refused(h1_client(&node, "a.test", "/", &[]).await);
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    node.stop().await;
}

#[tokio::test]
async fn sites_with_websocket_off_refuse_the_upgrade_with_403() {
    let origin = WsOrigin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.sites.push(edgecache::config::SiteConfig {
        hosts: vec!["off.test".into()],
        origin: origin.url(),
        websocket: Some(false),
        ..Default::default()
    });
    let node = TestNode::start(cfg).await;
    let (status, _, body) = refused(h1_client(&node, "off.test", "/", &[]).await);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("not enabled"), "{body}");
    assert!(origin.handshakes().is_empty());
    h1_client(&node, "on.test", "/", &[])
        .await
        .expect("the default site allows it");
    node.stop().await;
}

#[tokio::test]
async fn malformed_handshakes_are_refused_before_the_origin() {
    let origin = WsOrigin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let huge = "p".repeat(5000);
    let (status, _, _) =
        refused(h1_client(&node, "a.test", "/", &[("sec-websocket-protocol", &huge)]).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, headers, _) =
        refused(h1_client(&node, "a.test", "/", &[("sec-websocket-version", "8")]).await);
    assert_eq!(status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(headers["sec-websocket-version"], "13");
    let (status, _, _) =
        refused(h1_client(&node, "a.test", "/", &[("sec-websocket-key", "short")]).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(origin.handshakes().is_empty());
    node.stop().await;
}

/// Over HTTP/1.1 hyper hands the upgraded connection out; it must still
/// count against the connection caps until its tunnel ends.
#[tokio::test]
async fn an_http11_tunnel_keeps_its_connection_counted() {
    let origin = WsOrigin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.server.max_connections_per_ip = 1;
    let node = TestNode::start(cfg).await;
    let (mut ws, _) = h1_client(&node, "a.test", "/", &[]).await.expect("tunnel");
    ws.send(Message::text("held")).await.expect("send");
    assert_eq!(next(&mut ws).await, Message::text("held"));
    let plain_get = || async {
        let mut s = TcpStream::connect(node.addr).await.expect("connect");
        let _ = s
            .write_all(b"GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n")
            .await;
        let mut buf = [0u8; 64];
        matches!(tokio::time::timeout(WAIT, s.read(&mut buf)).await, Ok(Ok(n)) if n > 0)
    };
    assert!(
        !plain_get().await,
        "a second connection is over the per-IP cap"
    );
    ws.close(None).await.expect("close");
    drop(ws);
    let mut answered = false;
    for _ in 0..200 {
        if plain_get().await {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        answered,
        "the tunnel's connection was released when it ended"
    );
    node.stop().await;
}

/// wss: the same tunnel through an `[[https]]` listener (TLS, ALPN
/// http/1.1); the origin is told the client used https.
#[tokio::test]
async fn wss_through_the_tls_listener_echoes() {
    let origin = WsOrigin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = support::tls::self_signed(dir.path(), "c", &["localhost"]);
    let mut cfg = test_config(&origin.url(), dir.path());
    let mut h = edgecache::config::HttpsConfig::self_signed("127.0.0.1:0".parse().expect("addr"));
    h.self_signed = false;
    h.certificates = vec![edgecache::config::CertificateConfig {
        cert_file: cert.cert_file.clone(),
        key_file: cert.key_file.clone(),
    }];
    cfg.https.push(h);
    let node = TestNode::start(cfg).await;
    let tls = support::tls::connect(
        node.https_addrs[0],
        "localhost",
        support::tls::client_config(&[&cert.der], &[b"http/1.1"]),
    )
    .await
    .expect("tls");
    let req = "wss://localhost/secure"
        .into_client_request()
        .expect("request");
    let (mut ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(req, tls))
        .await
        .expect("handshake in time")
        .expect("switched");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    echoes(&mut ws).await;
    let seen = origin.handshakes();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["x-forwarded-proto"], "https");
    node.stop().await;
}
