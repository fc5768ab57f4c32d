//! The purge paths under hostile or heavy input, against a real node: the
//! admin listener's header-read timeout, authentication before the body,
//! the body cap, unknown query parameters, and a PURGE method and purge
//! history that stay correct while large.

use crate::support;

use edgecache::clock;
use edgecache::config::{Config, TokenConfig};
use std::net::SocketAddr;
use std::time::Duration;
use support::{Origin, TestNode, admin, reply, send, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OPERATOR: &str = "operator-token-0123456789";

fn config(origin: &str, dir: &std::path::Path) -> Config {
    let mut cfg = test_config(origin, dir);
    cfg.server.header_read_timeout_secs = 1;
    cfg.admin.tokens = vec![TokenConfig {
        token: OPERATOR.into(),
        hosts: vec!["*".into()],
    }];
    cfg
}

async fn start() -> (Origin, tempfile::TempDir, TestNode) {
    let origin = Origin::start(|seen| {
        reply(
            200,
            &[("cache-control", "max-age=600"), ("surrogate-key", "all")],
            format!("origin {}", seen.path),
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    (origin, dir, node)
}

/// Read from `stream` until the peer closes it or 10 s pass; returns what
/// was read and whether the connection was closed.
async fn read_until_closed(stream: &mut TcpStream) -> (String, bool) {
    let deadline = clock::instant() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(clock::instant());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr)
        .await
        .expect("connect to the admin listener")
}

#[tokio::test]
async fn admin_listener_closes_a_connection_that_never_finishes_its_head() {
    let (_origin, _dir, node) = start().await;
    let mut stream = connect(node.admin_addr).await;
    stream
        .write_all(b"POST /purge/key/x HT")
        .await
        .expect("send half a request line");
    let (_, closed) = read_until_closed(&mut stream).await;
    assert!(
        closed,
        "the admin listener dropped the slow client (header_read_timeout_secs = 1)"
    );
    // The listener still serves everyone else.
    let (status, _) = admin(node.admin_addr, "/purge/key/x", None, &[], "").await;
    assert_eq!(status, 401);
    node.stop().await;
}

#[tokio::test]
async fn admin_answers_401_without_waiting_for_an_unauthenticated_body() {
    let (_origin, _dir, node) = start().await;
    let mut stream = connect(node.admin_addr).await;
    // Announces a body it never sends.
    stream
        .write_all(
            b"POST /purge/keys HTTP/1.1\r\nHost: admin\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{\"keys\":",
        )
        .await
        .expect("send the head");
    let deadline = clock::instant() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("unauthorized") {
        let left = deadline.saturating_duration_since(clock::instant());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            other => panic!(
                "no 401 before the body arrived: {other:?}, read {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    node.stop().await;
}

#[tokio::test]
async fn admin_rejects_oversized_bodies_and_unknown_parameters() {
    let (_origin, _dir, node) = start().await;
    // Valid JSON, over the 64 KiB default.
    let padded = format!("{{\"keys\":[\"k\"]{}}}", " ".repeat(70 * 1024));
    let (status, json) = admin(node.admin_addr, "/purge/keys", Some(OPERATOR), &[], &padded).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{json}"
    );
    let (status, json) = admin(
        node.admin_addr,
        "/purge/key/all?hosts=shop.test",
        Some(OPERATOR),
        &[],
        "",
    )
    .await;
    assert_eq!(status, 400, "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`hosts`")),
        "{json}"
    );
    let long_key = "k".repeat(257);
    let (status, json) = admin(
        node.admin_addr,
        "/purge/keys",
        Some(OPERATOR),
        &[],
        &format!("{{\"keys\":[\"{long_key}\"]}}"),
    )
    .await;
    assert_eq!(status, 400, "{json}");
    node.stop().await;
}

#[tokio::test]
async fn many_prefix_bans_then_a_covering_one_purge_and_survive_a_restart() {
    let (origin, dir, node) = start().await;
    let get = |path: &'static str| {
        let url = node.url(path);
        async move { send("GET", &url, &[("host", "shop.test")]).await }
    };
    for path in ["/img/1/a", "/img/2/a", "/css/a"] {
        get(path).await;
    }
    for i in 0..200 {
        let (status, json) = admin(
            node.admin_addr,
            "/purge/prefix?soft=1",
            Some(OPERATOR),
            &[],
            &format!("{{\"prefix\":\"http://shop.test/img/{}/\"}}", i + 3),
        )
        .await;
        assert_eq!(status, 200, "{json}");
    }
    let (status, json) = admin(
        node.admin_addr,
        "/purge/prefix",
        Some(OPERATOR),
        &[],
        r#"{"prefix":"http://shop.test/img/"}"#,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    for path in ["/img/1/a", "/img/2/a", "/css/a"] {
        get(path).await;
    }
    assert_eq!(
        origin.count("/img/1/a"),
        2,
        "the covering prefix purge reached /img/1/a"
    );
    assert_eq!(origin.count("/img/2/a"), 2);
    assert_eq!(origin.count("/css/a"), 1, "/css/a was not purged");
    node.stop().await;
    // After a restart the index is rebuilt from the pruned database: what
    // was stored after the covering purge, or outside it, is still a hit.
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    for path in ["/img/1/a", "/css/a"] {
        let again = send("GET", &node.url(path), &[("host", "shop.test")]).await;
        let status = again.cache_status();
        assert!(
            status.contains("; hit") && !status.contains("fwd="),
            "{path} is served from cache after the restart: {status}"
        );
    }
    assert_eq!(origin.count("/img/1/a"), 2);
    assert_eq!(origin.count("/css/a"), 1);
    let metrics = support::metrics(node.admin_addr).await;
    assert!(
        metrics.contains("edgecache_purge_sequence 201"),
        "every purge is still counted after the restart"
    );
    node.stop().await;
}

#[test]
fn zero_purge_limits_are_rejected_naming_the_field() {
    for field in [
        "max_keys_per_object",
        "max_key_bytes",
        "max_batch",
        "max_hosts",
        "max_body_bytes",
    ] {
        let mut cfg = Config::default();
        match field {
            "max_keys_per_object" => cfg.purge.max_keys_per_object = 0,
            "max_key_bytes" => cfg.purge.max_key_bytes = 0,
            "max_batch" => cfg.purge.max_batch = 0,
            "max_hosts" => cfg.purge.max_hosts = 0,
            _ => cfg.purge.max_body_bytes = 0,
        }
        let err = cfg
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(&format!("purge.{field}")), "{field}: {err:?}");
    }
    assert!(Config::default().validate().is_ok());
}
