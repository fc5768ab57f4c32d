//! Cache poisoning and cache deception, tried as an attacker would against a
//! real node and a recording origin: unkeyed headers, Set-Cookie, fat GET,
//! path and Host confusion, Authorization, background credentials.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::{Origin, TestNode, reply, send, test_config, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn echo(seen: &support::Seen, name: &str) -> String {
    seen.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

/// Wait until the origin has seen `n` requests for `path` (fail after 10 s).
async fn wait_count(origin: &Origin, path: &str, n: usize) {
    wait_until(
        &format!("{n} origin requests for {path}"),
        std::time::Duration::from_secs(10),
        || origin.count(path) >= n,
    )
    .await;
}

/// The request fields that must never reach the origin (docs/security.md
/// §2), written here rather than read from the code's own list, so that a
/// name dropped from the code fails this test. The twenty of the docs, and
/// the node-internal `edgecache-fleet-seq` (a peer's purge-stream position).
const UNKEYED: [&str; 21] = [
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-scheme",
    "x-forwarded-server",
    "x-forwarded-prefix",
    "x-forwarded-ssl",
    "x-forwarded-uri",
    "x-forwarded-path",
    "x-original-url",
    "x-original-uri",
    "x-original-host",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-host",
    "x-http-host-override",
    "front-end-https",
    "x-url-scheme",
    "x-proxyuser-ip",
    "edgecache-fleet-seq",
];

/// Headers that change what many origins send but are not in the key never
/// reach the origin, even on a forced revalidation; nothing the attacker
/// sent shapes the stored response.
#[tokio::test]
async fn unkeyed_headers_never_reach_the_origin() {
    let origin = Origin::start(|seen| {
        let body = format!(
            "host={} url={} method={}",
            echo(seen, "x-forwarded-host"),
            echo(seen, "x-original-url"),
            echo(seen, "x-http-method-override")
        );
        reply(200, &[("cache-control", "max-age=60")], body)
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let clean = send("GET", &node.url("/p"), &[]).await;
    assert_eq!(clean.text(), "host=- url=- method=-");
    let attack: Vec<(&str, &str)> = UNKEYED
        .iter()
        .map(|f| (*f, "evil"))
        .chain([("cache-control", "no-cache")])
        .collect();
    let forced = send("GET", &node.url("/p"), &attack).await;
    assert_eq!(forced.text(), "host=- url=- method=-");
    assert_eq!(origin.count("/p"), 2, "the no-cache request revalidated");
    for seen in origin.seen() {
        for f in UNKEYED {
            assert!(!seen.headers.contains_key(f), "{f} reached the origin");
        }
    }
    let victim = send("GET", &node.url("/p"), &[]).await;
    assert_eq!(victim.text(), "host=- url=- method=-");
    node.stop().await;
}

/// An operator who needs X-Forwarded-Host forwards it, and then it is part
/// of the key: one value's response is never served for another.
#[tokio::test]
async fn a_forwarded_unkeyed_header_joins_the_key() {
    let origin = Origin::start(|seen| {
        let body = format!("host={}", echo(seen, "x-forwarded-host"));
        reply(200, &[("cache-control", "max-age=60")], body)
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.upstream.forward_fields = vec!["X-Forwarded-Host".into()];
    let node = TestNode::start(cfg).await;
    let a = send("GET", &node.url("/k"), &[("x-forwarded-host", "a")]).await;
    assert_eq!(a.text(), "host=a");
    let evil = send("GET", &node.url("/k"), &[("x-forwarded-host", "evil")]).await;
    assert_eq!(evil.text(), "host=evil");
    let a_again = send("GET", &node.url("/k"), &[("x-forwarded-host", "a")]).await;
    assert_eq!(a_again.text(), "host=a");
    assert!(
        a_again.cache_status().contains("hit"),
        "{}",
        a_again.cache_status()
    );
    let none = send("GET", &node.url("/k"), &[]).await;
    assert_eq!(none.text(), "host=-");
    assert_eq!(origin.count("/k"), 3);
    node.stop().await;
}

/// X-Forwarded-Proto and Forwarded are the node's to set, unless the client
/// is a configured trusted proxy.
#[tokio::test]
async fn forwarded_proto_comes_from_the_node_or_a_trusted_proxy() {
    let origin = Origin::start(|_| reply(200, &[("cache-control", "no-store")], "x")).await;
    let spoof = [
        ("x-forwarded-proto", "https"),
        ("forwarded", "for=1.2.3.4;proto=https"),
    ];
    for trusted in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = test_config(&origin.url(), dir.path());
        if trusted {
            cfg.upstream.trusted_proxies = vec!["127.0.0.0/8".into()];
        }
        let node = TestNode::start(cfg).await;
        send("GET", &node.url("/fp"), &spoof).await;
        let seen = origin.seen().pop().expect("seen");
        let (proto, fwd) = (echo(&seen, "x-forwarded-proto"), echo(&seen, "forwarded"));
        if trusted {
            assert_eq!((proto.as_str(), fwd.as_str()), ("https", spoof[1].1));
        } else {
            assert_eq!((proto.as_str(), fwd.as_str()), ("http", "-"));
        }
        node.stop().await;
    }
}

/// A Set-Cookie that a revalidation 304 carries for user A is given to A
/// and never merged into the stored response replayed to user B.
#[tokio::test]
async fn set_cookie_from_a_304_is_never_replayed() {
    let origin = Origin::start(|seen| {
        if seen.headers.contains_key("if-none-match") {
            let mut h = vec![("etag", "\"v1\""), ("cache-control", "no-cache")];
            if echo(seen, "cookie") == "user=a" {
                h.push(("set-cookie", "session=for-a"));
            }
            return reply(304, &h, "");
        }
        reply(
            200,
            &[("etag", "\"v1\""), ("cache-control", "no-cache")],
            "page",
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    assert_eq!(send("GET", &node.url("/r"), &[]).await.text(), "page");
    let a = send("GET", &node.url("/r"), &[("cookie", "user=a")]).await;
    assert_eq!(
        a.header("set-cookie"),
        Some("session=for-a"),
        "A gets its cookie"
    );
    let b = send("GET", &node.url("/r"), &[("cookie", "user=b")]).await;
    assert_eq!(b.text(), "page");
    assert_eq!(b.header("set-cookie"), None, "B never gets A's cookie");
    assert_eq!(origin.count("/r"), 3);
    node.stop().await;
}

/// By default a response with Set-Cookie is never stored, even `public`;
/// under `strip` it is stored without its cookie; under `rfc9111` it is
/// replayed (the explicit opt-in).
#[tokio::test]
async fn set_cookie_responses_never_reach_another_client_by_default() {
    use edgecache::config::SetCookie;
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    let origin = Origin::start(move |_| {
        let i = counter.fetch_add(1, Ordering::SeqCst);
        let cookie = format!("session={i}");
        reply(
            200,
            &[
                ("cache-control", "public, max-age=60"),
                ("set-cookie", &cookie),
            ],
            "page",
        )
    })
    .await;
    let cases = [
        (SetCookie::Pass, [Some("session=0"), Some("session=1")], 2),
        (SetCookie::Strip, [Some("session=2"), None], 1),
        (
            SetCookie::Rfc9111,
            [Some("session=3"), Some("session=3")],
            1,
        ),
    ];
    for (policy, want, origin_requests) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = test_config(&origin.url(), dir.path());
        cfg.cache.set_cookie = policy;
        let node = TestNode::start(cfg).await;
        let path = format!("/sc-{}", policy.as_str());
        let first = send("GET", &node.url(&path), &[]).await;
        let second = send("GET", &node.url(&path), &[]).await;
        assert_eq!(
            [first.header("set-cookie"), second.header("set-cookie")],
            want,
            "{policy:?}"
        );
        assert_eq!(origin.count(&path), origin_requests, "{policy:?}");
        node.stop().await;
    }
}

/// A stale-while-revalidate refresh is nobody's request: it carries none of
/// the client's credentials (Cookie, Authorization, Proxy-Authorization),
/// preconditions (If-None-Match, If-Modified-Since, If-Match,
/// If-Unmodified-Since, If-Range) or Range (docs/security.md §1).
#[tokio::test]
async fn background_refresh_carries_no_credentials() {
    let origin = Origin::start(|_| {
        reply(
            200,
            // Stale on arrival (Age past max-age) but within the SWR window.
            &[
                (
                    "cache-control",
                    "public, max-age=10, stale-while-revalidate=600",
                ),
                ("age", "20"),
            ],
            "page",
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    // Each request that meets the stale object triggers one refresh; a
    // Range request is answered from the stored object too, so each kind
    // of field is carried by its own request, on its own path.
    let cases: [(&str, &[(&str, &str)]); 3] = [
        (
            "/swr-credentials",
            &[
                ("cookie", "session=victim"),
                ("authorization", "Bearer victim"),
                ("proxy-authorization", "Basic dmljdGltOnB3"),
            ],
        ),
        (
            "/swr-preconditions",
            &[
                ("if-none-match", "\"victim\""),
                ("if-modified-since", "Sat, 01 Jan 2000 00:00:00 GMT"),
                ("if-match", "*"),
                ("if-unmodified-since", "Sat, 01 Jan 2000 00:00:00 GMT"),
                ("if-range", "\"victim\""),
            ],
        ),
        ("/swr-range", &[("range", "bytes=0-1")]),
    ];
    for (path, fields) in cases {
        send("GET", &node.url(path), &[]).await;
        let stale = send("GET", &node.url(path), fields).await;
        assert!(
            stale.cache_status().contains("stale-while-revalidate"),
            "{path}: {}",
            stale.cache_status()
        );
        wait_count(&origin, path, 2).await;
        let refresh = origin
            .seen()
            .into_iter()
            .filter(|s| s.path == path)
            .nth(1)
            .expect("the refresh");
        for (name, _) in fields {
            assert!(
                !refresh.headers.contains_key(*name),
                "{path}: the background refresh carried the client's {name}"
            );
        }
    }
    node.stop().await;
}

/// Send raw bytes on a new connection and read the whole answer.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A GET with a body is passed to the origin uncached: never stored, and
/// never answered from a stored response (its answer may depend on bytes
/// the key does not cover).
#[tokio::test]
async fn a_get_with_a_body_is_never_cached() {
    let origin = Origin::start(|_| reply(200, &[("cache-control", "max-age=60")], "v")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let fat =
        b"GET /fat HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nevil!";
    let first = raw(node.addr, fat).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(
        first.contains("fwd=bypass") && first.contains("detail=request-body"),
        "{first}"
    );
    let plain = send("GET", &node.url("/fat"), &[("host", "a")]).await;
    assert!(
        plain.cache_status().contains("fwd=uri-miss"),
        "not stored: {}",
        plain.cache_status()
    );
    let again = raw(node.addr, fat).await;
    assert!(
        again.contains("fwd=bypass"),
        "not served from cache: {again}"
    );
    assert_eq!(origin.count("/fat"), 3);
    node.stop().await;
}

/// Cache deception: a personal page requested under a static-looking path is
/// cached only by what the origin says, never by the file extension; and an
/// Authorization request's response is not stored without public/s-maxage.
#[tokio::test]
async fn cache_deception_by_path_and_authorization_fails() {
    let origin = Origin::start(|seen| {
        if seen.path.starts_with("/account") {
            let who = echo(seen, "cookie");
            return reply(
                200,
                &[("cache-control", "private")],
                format!("account of {who}"),
            );
        }
        let who = echo(seen, "authorization");
        reply(
            200,
            &[("cache-control", "max-age=60")],
            format!("for {who}"),
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let victim = send("GET", &node.url("/account/x.css"), &[("cookie", "victim")]).await;
    assert_eq!(victim.text(), "account of victim");
    let attacker = send("GET", &node.url("/account/x.css"), &[]).await;
    assert_eq!(attacker.text(), "account of -");
    let authed = send(
        "GET",
        &node.url("/api"),
        &[("authorization", "Bearer victim")],
    )
    .await;
    assert_eq!(authed.text(), "for Bearer victim");
    let other = send("GET", &node.url("/api"), &[]).await;
    assert_eq!(other.text(), "for -");
    node.stop().await;
}

/// Path and Host confusion: every spelling of one resource has one key
/// (dot segments, encoded unreserved characters, host case, trailing dot,
/// default port), the origin receives that one spelling, and different
/// hosts never share an entry.
#[tokio::test]
async fn spellings_of_one_resource_share_one_key_and_hosts_do_not() {
    let origin = Origin::start(|seen| {
        let body = format!("{} {}", echo(seen, "host"), seen.path);
        reply(200, &[("cache-control", "max-age=60")], body)
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let first = send("GET", &node.url("/a/b"), &[("host", "site.example")]).await;
    assert_eq!(first.text(), "site.example /a/b");
    for (path, host) in [
        ("/a/./b", "site.example"),
        ("/x/../a/b", "site.example"),
        ("/%61/%62", "site.example"),
        ("/a/b", "SITE.example"),
        ("/a/b", "site.example."),
        ("/a/b", "site.example:80"),
    ] {
        let got = send("GET", &node.url(path), &[("host", host)]).await;
        assert!(
            got.cache_status().contains("hit"),
            "{path} {host}: {}",
            got.cache_status()
        );
        assert_eq!(got.text(), "site.example /a/b");
    }
    let other = send("GET", &node.url("/a/b"), &[("host", "other.example")]).await;
    assert_eq!(
        other.text(),
        "other.example /a/b",
        "another host is another key"
    );
    let raw_dots = raw(
        node.addr,
        b"GET /q/../a/%2e%2e/a/b HTTP/1.1\r\nHost: site.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(raw_dots.contains("; hit"), "{raw_dots}");
    assert_eq!(origin.count("/a/b"), 2);
    node.stop().await;
}

/// A URL purge reaches every spelling the cache keys as one: the purged
/// URL is normalised exactly as request targets are.
#[tokio::test]
async fn a_url_purge_reaches_every_spelling() {
    let origin = Origin::start(|_| reply(200, &[("cache-control", "max-age=600")], "v")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    let token = "purge-spelling-token-0123456789";
    cfg.admin.tokens = vec![edgecache::config::TokenConfig {
        token: token.into(),
        hosts: vec!["*".into()],
    }];
    let node = TestNode::start(cfg).await;
    let host = [("host", "site.example")];
    send("GET", &node.url("/a/~b"), &host).await;
    assert!(
        send("GET", &node.url("/a/~b"), &host)
            .await
            .cache_status()
            .contains("hit")
    );
    let (status, _) = support::admin(
        node.admin_addr,
        "/purge/url",
        Some(token),
        &[],
        r#"{"url":"http://SITE.example./x/../a/%7Eb"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let after = send("GET", &node.url("/a/~b"), &host).await;
    assert!(
        after.cache_status().contains("fwd="),
        "{}",
        after.cache_status()
    );
    assert_eq!(origin.count("/a/~b"), 2);
    node.stop().await;
}
