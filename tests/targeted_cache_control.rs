//! RFC 9213 targeted cache control (CDN-Cache-Control) and RFC 9211
//! Cache-Status, end to end.

use crate::support;

use support::{Origin, TestNode, get, reply, send, test_config};

/// One origin path per case; the response carries the case's fields.
fn fields_for(path: &str) -> Vec<(&'static str, &'static str)> {
    match path {
        "/cdn-beats-no-store" => vec![
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=60"),
        ],
        "/cdn-no-store" => vec![
            ("cache-control", "max-age=60"),
            ("cdn-cache-control", "no-store"),
        ],
        "/cdn-private" => vec![
            ("cache-control", "max-age=60"),
            ("cdn-cache-control", "private"),
        ],
        "/cdn-max-age-0" => vec![
            ("cdn-cache-control", "max-age=0"),
            ("expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
        ],
        "/cdn-no-cache" => vec![
            ("cache-control", "max-age=60"),
            ("cdn-cache-control", "no-cache"),
            ("etag", "\"n\""),
        ],
        "/ours-first" => vec![
            ("edgecache-cdn-cache-control", "max-age=60"),
            ("cdn-cache-control", "no-store"),
        ],
        "/invalid-falls-back" => vec![
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=60, &&&"),
        ],
        "/wrong-type-falls-back" => vec![
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=\"60\""),
        ],
        "/cdn-s-maxage" => vec![
            ("cache-control", "max-age=0"),
            ("cdn-cache-control", "s-maxage=60"),
        ],
        _ => vec![("cache-control", "max-age=60")],
    }
}

/// RFC 9213 §2.1 (field selection, invalid fields ignored) and §2.2 (the
/// targeted field replaces Cache-Control and Expires for this cache).
#[tokio::test]
async fn targeted_field_decides_for_this_cache() {
    let origin = Origin::start(|seen| {
        if seen.headers.get("if-none-match").is_some() {
            return reply(304, &[("etag", "\"n\"")], "");
        }
        reply(200, &fields_for(&seen.path), format!("body {}", seen.path))
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    // (path, second request is a plain hit?, origin requests after two GETs)
    let cases = [
        ("/cdn-beats-no-store", true, 1),
        ("/cdn-no-store", false, 2),
        ("/cdn-private", false, 2),
        ("/cdn-max-age-0", false, 2),
        ("/cdn-no-cache", false, 2),
        ("/ours-first", true, 1),
        ("/invalid-falls-back", false, 2),
        ("/wrong-type-falls-back", false, 2),
        ("/cdn-s-maxage", true, 1),
    ];
    for (path, hit, origin_requests) in cases {
        let first = get(&node.url(path)).await;
        assert_eq!(first.text(), format!("body {path}"));
        let second = get(&node.url(path)).await;
        assert_eq!(second.text(), format!("body {path}"), "{path}");
        let cs = second.cache_status();
        assert_eq!(
            cs.contains("; hit") && !cs.contains("fwd="),
            hit,
            "{path}: {cs}"
        );
        assert_eq!(origin.count(path), origin_requests, "{path}");
    }
    node.stop().await;
}

/// RFC 9213 §2: CDN-Cache-Control is "targeted at all CDN caches", so it is
/// forwarded downstream by default (a CDN behind this node needs it); the
/// node's own field and the legacy Surrogate-Control stop here, unless
/// stripping is turned off; `forward_targeted_fields = []` strips them all.
#[tokio::test]
async fn targeted_fields_are_removed_downstream_unless_kept() {
    let origin = Origin::start(|_| {
        reply(
            200,
            &[
                ("cdn-cache-control", "max-age=60"),
                ("edgecache-cdn-cache-control", "max-age=30"),
                ("surrogate-control", "max-age=20"),
            ],
            "x",
        )
    })
    .await;
    // (strip, forward list, expect cdn-cache-control, expect the other two)
    let cases: [(bool, Option<Vec<String>>, bool, bool); 3] = [
        (true, None, true, false),
        (true, Some(vec![]), false, false),
        (false, None, true, true),
    ];
    for (strip, forward, want_cdn, want_own) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = test_config(&origin.url(), dir.path());
        cfg.cache.strip_targeted_fields = strip;
        if let Some(f) = forward.clone() {
            cfg.cache.forward_targeted_fields = f;
        }
        let node = TestNode::start(cfg).await;
        for _ in 0..2 {
            let got = get(&node.url("/strip")).await;
            let case = format!("strip={strip} forward={forward:?}");
            assert_eq!(
                got.header("cdn-cache-control").is_some(),
                want_cdn,
                "{case}"
            );
            assert_eq!(
                got.header("edgecache-cdn-cache-control").is_some(),
                want_own,
                "{case}"
            );
            assert_eq!(
                got.header("surrogate-control").is_some(),
                want_own,
                "{case}"
            );
        }
        node.stop().await;
    }
}

/// RFC 9211 §2: our member is appended after the upstream's; §2.1-§2.8 parameters.
#[tokio::test]
async fn cache_status_appends_and_explains() {
    let origin = Origin::start(|seen| match seen.path.as_str() {
        "/no-store" => reply(200, &[("cache-control", "no-store")], "n"),
        _ => reply(
            200,
            &[
                ("cache-control", "max-age=60"),
                ("cache-status", "OriginShield; hit; ttl=5"),
            ],
            "s",
        ),
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.server.cache_name = "edge-test".into();
    cfg.cache.expose_key = true;
    let node = TestNode::start(cfg).await;
    let miss = get(&node.url("/s")).await;
    assert!(miss.cache_status().starts_with("OriginShield; hit; ttl=5, edge-test; fwd=uri-miss; fwd-status=200; ttl=60; stored; key=\""), "{}", miss.cache_status());
    let hit = get(&node.url("/s")).await;
    assert!(
        hit.cache_status()
            .starts_with("OriginShield; hit; ttl=5, edge-test; hit; ttl="),
        "{}",
        hit.cache_status()
    );
    let no_store = get(&node.url("/no-store")).await;
    assert_eq!(
        no_store.cache_status(),
        "edge-test; fwd=uri-miss; fwd-status=200; detail=no-store"
    );
    let post = send("POST", &node.url("/s"), &[]).await;
    assert!(
        post.cache_status()
            .contains("edge-test; fwd=method; fwd-status=200"),
        "{}",
        post.cache_status()
    );
    let request = send("GET", &node.url("/s"), &[("cache-control", "no-cache")]).await;
    assert!(
        request.cache_status().contains("edge-test; fwd=uri-miss"),
        "after the POST invalidated it: {}",
        request.cache_status()
    );
    let request = send("GET", &node.url("/s"), &[("cache-control", "no-cache")]).await;
    assert!(
        request
            .cache_status()
            .contains("edge-test; fwd=request; fwd-status=200"),
        "{}",
        request.cache_status()
    );
    node.stop().await;
}
