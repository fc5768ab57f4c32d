//! Serving stale responses: stale-while-revalidate with a background refresh,
//! stale-if-error on a 5xx, and the origin-down window (RFC 5861, RFC 9111 §4.2.4).

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::{Origin, TestNode, get, reply, test_config, wait_until, wait_until_async};

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_in_background() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let origin = Origin::start(move |_| {
        let v = n2.fetch_add(1, Ordering::SeqCst) + 1;
        reply(
            200,
            &[("cache-control", "max-age=0, stale-while-revalidate=60")],
            format!("v{v}"),
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    assert_eq!(get(&node.url("/swr")).await.text(), "v1");
    let stale = get(&node.url("/swr")).await;
    assert_eq!(stale.text(), "v1", "the stale copy is served at once");
    assert!(
        stale
            .cache_status()
            .contains("detail=stale-while-revalidate"),
        "{}",
        stale.cache_status()
    );
    // The refresh happens in the background; wait for it (bounded).
    wait_until(
        "the background refresh at the origin",
        std::time::Duration::from_secs(10),
        || origin.count("/swr") >= 2,
    )
    .await;
    assert_eq!(origin.count("/swr"), 2, "one background refresh");
    let mut refreshed = String::new();
    wait_until_async(
        "the refreshed response to be served",
        std::time::Duration::from_secs(10),
        async || {
            refreshed = get(&node.url("/swr")).await.text();
            refreshed == "v2" || origin.count("/swr") > 2
        },
    )
    .await;
    assert_eq!(
        refreshed, "v2",
        "the refreshed response replaced the stale one"
    );
    node.stop().await;
}

#[tokio::test]
async fn stale_if_error_serves_stale_on_5xx_but_must_revalidate_does_not() {
    let origin = Origin::start(|seen| {
        let first = seen.headers.get("x-second").is_none();
        let cc = if seen.path == "/mr" {
            "max-age=0, must-revalidate, stale-if-error=60"
        } else {
            "max-age=0, stale-if-error=60"
        };
        if first {
            reply(200, &[("cache-control", cc)], "good")
        } else {
            reply(503, &[], "down")
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    for (path, want_status, want_body) in [("/sie", 200, "good"), ("/mr", 503, "down")] {
        assert_eq!(get(&node.url(path)).await.text(), "good");
        let got = support::send("GET", &node.url(path), &[("x-second", "1")]).await;
        assert_eq!(
            (got.status, got.text().as_str()),
            (want_status, want_body),
            "{path}: {}",
            got.cache_status()
        );
    }
    node.stop().await;
}

#[tokio::test]
async fn origin_down_window_serves_stale_then_502_when_disabled() {
    for window in [3600, 0] {
        let origin = Origin::start(|_| {
            reply(
                200,
                &[("cache-control", "max-age=0"), ("etag", "\"e\"")],
                "kept",
            )
        })
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = test_config(&origin.url(), dir.path());
        cfg.cache.serve_stale_on_origin_down_secs = window;
        cfg.upstream.connect_timeout_ms = 500;
        let node = TestNode::start(cfg).await;
        assert_eq!(get(&node.url("/down")).await.text(), "kept");
        // Down once nothing accepts on its address any more (its port
        // stays reserved, so no other test's listener can answer there).
        origin.stop_and_wait().await;
        let got = get(&node.url("/down")).await;
        if window > 0 {
            assert_eq!(
                (got.status, got.text().as_str()),
                (200, "kept"),
                "{}",
                got.cache_status()
            );
            assert!(
                got.cache_status().contains("detail=origin-unreachable"),
                "{}",
                got.cache_status()
            );
        } else {
            assert_eq!(got.status, 502, "{}", got.cache_status());
        }
        node.stop().await;
    }
}

/// RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.8, §5.2.2.10: a stored response with
/// `s-maxage`, `no-cache` or `proxy-revalidate` is never served stale by a
/// shared cache, neither when the origin answers 5xx nor when it is down
/// (connection refused): not for the response's own stale-if-error or
/// stale-while-revalidate, not for the request's stale-if-error, not for
/// the node's `serve_stale_on_origin_down_secs`. A control response with
/// the same extensions and none of those directives is served stale in
/// both cases, so the setup can serve stale at all.
#[tokio::test]
async fn s_maxage_no_cache_and_proxy_revalidate_are_never_served_stale_on_error() {
    const EXTENSIONS: &str = "stale-if-error=600, stale-while-revalidate=600";
    let forbidding = [
        ("/s-maxage", "s-maxage=0"),
        ("/no-cache", "max-age=0, no-cache"),
        ("/proxy-revalidate", "max-age=0, proxy-revalidate"),
    ];
    for down in [false, true] {
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let fail = failing.clone();
        let origin = Origin::start(move |seen| {
            if fail.load(Ordering::SeqCst) {
                return reply(503, &[("cache-control", "no-store")], "origin error");
            }
            let directive = match seen.path.as_str() {
                "/s-maxage" => "s-maxage=0",
                "/no-cache" => "max-age=0, no-cache",
                "/proxy-revalidate" => "max-age=0, proxy-revalidate",
                _ => "max-age=0",
            };
            reply(
                200,
                &[
                    ("cache-control", &format!("{directive}, {EXTENSIONS}")),
                    ("etag", "\"e\""),
                ],
                "stored",
            )
        })
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = test_config(&origin.url(), dir.path());
        cfg.cache.serve_stale_on_origin_down_secs = 3600;
        let node = TestNode::start(cfg).await;
        let paths = ["/control", "/s-maxage", "/no-cache", "/proxy-revalidate"];
        for path in paths {
            let first = get(&node.url(path)).await;
            assert_eq!((first.status, first.text().as_str()), (200, "stored"));
            assert!(first.cache_status().contains("stored"), "{path}: {first:?}");
        }
        if down {
            origin.stop_and_wait().await;
        } else {
            failing.store(true, Ordering::SeqCst);
        }
        let how = if down { "origin down" } else { "origin 5xx" };
        let asked = [("cache-control", "stale-if-error=600")];
        let control = support::send("GET", &node.url("/control"), &asked).await;
        assert_eq!(
            (control.status, control.text().as_str()),
            (200, "stored"),
            "{how}: the control is served stale: {}",
            control.cache_status()
        );
        for (path, directive) in forbidding {
            let got = support::send("GET", &node.url(path), &asked).await;
            assert_ne!(
                got.text(),
                "stored",
                "{how}: {path} ({directive}) served stale: {}",
                got.cache_status()
            );
            let want = if down { 502 } else { 503 };
            assert_eq!(got.status, want, "{how}: {path}: {}", got.cache_status());
        }
        node.stop().await;
    }
}
