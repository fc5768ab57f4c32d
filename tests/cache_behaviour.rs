//! End-to-end caching behaviour: a real node in front of a scripted origin on
//! 127.0.0.1:0, over real sockets, with a real store on disk.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::{Origin, TestNode, get, reply, send, test_config};

#[tokio::test]
async fn second_request_is_a_hit_with_age() {
    let origin = Origin::start(|_| reply(200, &[("cache-control", "max-age=60")], "payload")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;

    let first = get(&node.url("/a")).await;
    assert_eq!((first.status, first.text().as_str()), (200, "payload"));
    assert!(
        first.cache_status().contains("fwd=uri-miss"),
        "{}",
        first.cache_status()
    );
    assert!(
        first.cache_status().contains("stored"),
        "{}",
        first.cache_status()
    );

    let second = get(&node.url("/a")).await;
    assert_eq!((second.status, second.text().as_str()), (200, "payload"));
    assert!(
        second.cache_status().contains("; hit"),
        "{}",
        second.cache_status()
    );
    assert!(
        second.header("age").is_some(),
        "a cached response carries Age"
    );
    assert_eq!(origin.count("/a"), 1, "the hit did not reach the origin");
    node.stop().await;
}

#[tokio::test]
async fn stale_response_is_revalidated_with_304_and_headers_updated() {
    let version = Arc::new(AtomicUsize::new(0));
    let v = version.clone();
    let origin = Origin::start(move |seen| {
        let n = v.fetch_add(1, Ordering::SeqCst);
        if n > 0
            && seen
                .headers
                .get("if-none-match")
                .is_some_and(|e| e == "\"v1\"")
        {
            return reply(
                304,
                &[
                    ("etag", "\"v1\""),
                    ("x-version", "2"),
                    ("cache-control", "max-age=0"),
                ],
                "",
            );
        }
        reply(
            200,
            &[
                ("etag", "\"v1\""),
                ("x-version", "1"),
                ("cache-control", "max-age=0"),
            ],
            "body-v1",
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;

    let first = get(&node.url("/r")).await;
    assert_eq!(first.header("x-version"), Some("1"));
    let second = get(&node.url("/r")).await;
    assert_eq!(second.status, 200);
    assert_eq!(
        second.text(),
        "body-v1",
        "body comes from the cache after a 304"
    );
    assert_eq!(
        second.header("x-version"),
        Some("2"),
        "headers updated from the 304 (RFC 9111 §4.3.4)"
    );
    assert!(
        second.cache_status().contains("fwd-status=304"),
        "{}",
        second.cache_status()
    );
    let seen = origin.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].headers.get("if-none-match").map(|v| v.as_bytes()),
        Some(&b"\"v1\""[..])
    );
    node.stop().await;
}

#[tokio::test]
async fn vary_keeps_two_variants_apart() {
    let origin = Origin::start(|seen| {
        let lang = seen
            .headers
            .get("accept-language")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_string();
        reply(
            200,
            &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
            format!("lang={lang}"),
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let url = node.url("/v");
    for _ in 0..2 {
        for lang in ["en", "fr"] {
            let got = send("GET", &url, &[("accept-language", lang)]).await;
            assert_eq!(got.text(), format!("lang={lang}"));
        }
    }
    assert_eq!(origin.count("/v"), 2, "one origin fetch per variant");
    let de = send("GET", &url, &[("accept-language", "de")]).await;
    assert!(
        de.cache_status().contains("fwd=vary-miss"),
        "{}",
        de.cache_status()
    );
    node.stop().await;
}

#[tokio::test]
async fn post_invalidates_the_stored_response() {
    let origin = Origin::start(|seen| {
        if seen.method == http::Method::POST {
            reply(201, &[("location", "/other")], "created")
        } else {
            reply(200, &[("cache-control", "max-age=600")], "doc")
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    for path in ["/doc", "/other"] {
        get(&node.url(path)).await;
        assert!(get(&node.url(path)).await.cache_status().contains("hit"));
    }
    let post = send("POST", &node.url("/doc"), &[]).await;
    assert_eq!(post.status, 201);
    assert!(post.cache_status().contains("fwd=method"));
    for path in ["/doc", "/other"] {
        let after = get(&node.url(path)).await;
        assert!(
            after.cache_status().contains("fwd=uri-miss"),
            "{path}: {}",
            after.cache_status()
        );
        let gets = origin
            .seen()
            .iter()
            .filter(|s| s.path == path && s.method == http::Method::GET)
            .count();
        assert_eq!(gets, 2, "{path} fetched again after POST (RFC 9111 §4.4)");
    }
    node.stop().await;
}

#[tokio::test]
async fn no_store_and_private_are_never_served_from_cache() {
    let origin = Origin::start(|seen| match seen.path.as_str() {
        "/no-store" => reply(200, &[("cache-control", "no-store, max-age=60")], "ns"),
        _ => reply(200, &[("cache-control", "private, max-age=60")], "pv"),
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    for (path, reason) in [
        ("/no-store", "detail=no-store"),
        ("/private", "detail=private"),
    ] {
        for _ in 0..3 {
            let got = get(&node.url(path)).await;
            assert_eq!(got.status, 200);
            assert!(
                got.cache_status().contains(reason),
                "{}",
                got.cache_status()
            );
        }
        assert_eq!(
            origin.count(path),
            3,
            "{path} must reach the origin every time"
        );
    }
    node.stop().await;
}

#[tokio::test]
async fn client_conditional_is_answered_from_cache() {
    let origin = Origin::start(|_| {
        reply(
            200,
            &[("cache-control", "max-age=60"), ("etag", "\"e1\"")],
            "x",
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    get(&node.url("/c")).await;
    let got = send("GET", &node.url("/c"), &[("if-none-match", "\"e1\"")]).await;
    assert_eq!(got.status, 304);
    assert!(got.body.is_empty());
    assert_eq!(origin.count("/c"), 1);
    node.stop().await;
}

#[tokio::test]
async fn forwarding_strips_hop_by_hop_and_adds_via_and_xff() {
    let origin = Origin::start(|_| {
        reply(
            200,
            &[("connection", "x-internal"), ("x-internal", "leak")],
            "ok",
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let got = send(
        "GET",
        &node.url("/h"),
        &[
            ("connection", "x-secret"),
            ("x-secret", "s"),
            ("x-keep", "k"),
        ],
    )
    .await;
    assert_eq!(
        got.header("x-internal"),
        None,
        "origin's Connection-named field removed"
    );
    assert!(got.header("via").is_some_and(|v| v.contains("edgecache")));
    let seen = &origin.seen()[0];
    assert_eq!(seen.headers.get("x-secret"), None);
    assert_eq!(
        seen.headers.get("x-keep").map(|v| v.as_bytes()),
        Some(&b"k"[..])
    );
    assert!(
        seen.headers
            .get("via")
            .is_some_and(|v| v.to_str().expect("ascii").contains("edgecache"))
    );
    assert_eq!(
        seen.headers.get("x-forwarded-for").map(|v| v.as_bytes()),
        Some(&b"127.0.0.1"[..])
    );
    assert_eq!(
        seen.headers.get("host").map(|v| v.as_bytes()),
        Some(node.addr.to_string().as_bytes())
    );
    node.stop().await;
}

#[tokio::test]
async fn unreachable_origin_gives_502_without_its_address_and_only_if_cached_gives_504() {
    // A port held for the test that refuses every connection (a port
    // closed after binding could be handed to another test's listener).
    let reserved = support::Reserved::new();
    let dead = reserved.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&format!("http://{dead}"), dir.path())).await;
    let got = get(&node.url("/x")).await;
    assert_eq!(got.status, 502);
    // The client learns the status and the Cache-Status detail, never the
    // origin's address or the socket error.
    assert!(
        got.text().contains("could not be reached"),
        "{}",
        got.text()
    );
    assert!(!got.text().contains(&dead.to_string()), "{}", got.text());
    assert!(!got.text().contains("127.0.0.1"), "{}", got.text());
    assert!(!got.text().contains("onnect"), "{}", got.text());
    assert!(got.cache_status().contains("detail=origin-unreachable"));
    let got = send(
        "GET",
        &node.url("/x"),
        &[("cache-control", "only-if-cached")],
    )
    .await;
    assert_eq!(got.status, 504);
    node.stop().await;
}

#[tokio::test]
async fn slow_origin_gives_504() {
    // An origin that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&format!("http://{addr}"), dir.path());
    cfg.upstream.first_byte_timeout_ms = 300;
    let node = TestNode::start(cfg).await;
    let got = get(&node.url("/slow")).await;
    assert_eq!(got.status, 504);
    assert!(got.cache_status().contains("detail=origin-timeout"));
    node.stop().await;
    hold.abort();
}

#[tokio::test]
async fn malformed_host_is_a_400() {
    let origin = Origin::start(|_| reply(200, &[], "x")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(node.addr)
        .await
        .expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.expect("read");
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert_eq!(origin.seen().len(), 0);
    node.stop().await;
}
