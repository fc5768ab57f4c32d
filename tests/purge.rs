//! Surrogate keys and the purge API against a real node: tag, hit, purge,
//! miss; soft purge; URL (all variants), prefix and host purges; auth; a
//! purge racing an in-flight fill; restarts; the PURGE method.

use crate::support;

use edgecache::config::{Config, TokenConfig};
use std::sync::Arc;
use support::{Origin, TestNode, admin, reply, send, test_config, wait_until};

const OPERATOR: &str = "operator-token-0123456789";
const SHOP: &str = "shop-only-token-0123456789";

fn config(origin: &str, dir: &std::path::Path) -> Config {
    let mut cfg = test_config(origin, dir);
    cfg.admin.tokens = vec![
        TokenConfig {
            token: OPERATOR.into(),
            hosts: vec!["*".into()],
        },
        TokenConfig {
            token: SHOP.into(),
            hosts: vec!["shop.test".into()],
        },
    ];
    cfg
}

/// An origin that tags every response and counts requests per path.
async fn tagging_origin() -> Origin {
    Origin::start(|seen| {
        let tags = match seen.path.as_str() {
            p if p.starts_with("/product") => "product all",
            _ => "all",
        };
        let lang = seen
            .headers
            .get("accept-language")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        reply(
            200,
            &[
                ("cache-control", "max-age=600"),
                ("surrogate-key", tags),
                ("cache-tag", "ct-1,ct-2"),
                ("etag", "\"e1\""),
                ("vary", "accept-language"),
            ],
            format!("{} {lang}", seen.path),
        )
    })
    .await
}

async fn get_host(node: &TestNode, host: &str, path: &str) -> support::Got {
    send("GET", &node.url(path), &[("host", host)]).await
}

fn hit(g: &support::Got) -> bool {
    g.cache_status().contains("; hit") && !g.cache_status().contains("fwd=")
}

#[tokio::test]
async fn purge_by_key_makes_the_next_request_a_miss() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    for path in ["/product/1", "/about"] {
        get_host(&node, "shop.test", path).await;
        let again = get_host(&node, "shop.test", path).await;
        assert!(hit(&again), "{path}: {}", again.cache_status());
        assert_eq!(
            again.header("surrogate-key"),
            None,
            "tag fields are stripped downstream"
        );
        assert_eq!(again.header("cache-tag"), None);
    }
    let (status, json) = admin(node.admin_addr, "/purge/key/product", Some(SHOP), &[], "").await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"], "ok");
    assert!(json["id"].as_u64().is_some());
    assert!(
        !hit(&get_host(&node, "shop.test", "/product/1").await),
        "purged key misses"
    );
    assert!(
        hit(&get_host(&node, "shop.test", "/about").await),
        "other keys untouched"
    );
    // Cache-Tag (comma-separated) works too.
    admin(
        node.admin_addr,
        "/purge/keys",
        Some(SHOP),
        &[],
        r#"{"keys":["ct-2"]}"#,
    )
    .await;
    assert!(!hit(&get_host(&node, "shop.test", "/about").await));
    node.stop().await;
}

#[tokio::test]
async fn soft_purge_revalidates_instead_of_refetching() {
    let origin = Origin::start(|seen| {
        if seen.headers.get("if-none-match").is_some() {
            return reply(
                304,
                &[("etag", "\"e1\""), ("cache-control", "max-age=600")],
                "",
            );
        }
        reply(
            200,
            &[
                ("cache-control", "max-age=600"),
                ("surrogate-key", "k"),
                ("etag", "\"e1\""),
            ],
            "body",
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    get_host(&node, "shop.test", "/s").await;
    let (status, json) = admin(
        node.admin_addr,
        "/purge/key/k",
        Some(SHOP),
        &[("fastly-soft-purge", "1")],
        "",
    )
    .await;
    assert_eq!(
        (status, json["mode"].as_str()),
        (200, Some("soft")),
        "{json}"
    );
    let after = get_host(&node, "shop.test", "/s").await;
    assert_eq!(after.text(), "body");
    assert!(
        after.cache_status().contains("fwd-status=304"),
        "{}",
        after.cache_status()
    );
    let seen = origin.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].headers.get("if-none-match").is_some(),
        "soft purge sends a conditional request"
    );
    assert!(
        hit(&get_host(&node, "shop.test", "/s").await),
        "fresh again after revalidation"
    );
    node.stop().await;
}

#[tokio::test]
async fn url_prefix_and_host_purges() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let warm = |host: &'static str, path: &'static str, lang: &'static str| {
        let url = node.url(path);
        async move { send("GET", &url, &[("host", host), ("accept-language", lang)]).await }
    };
    for (host, path) in [
        ("shop.test", "/img/a"),
        ("shop.test", "/img/b"),
        ("shop.test", "/css/c"),
        ("blog.test", "/img/a"),
    ] {
        for lang in ["en", "fr"] {
            warm(host, path, lang).await;
            assert!(hit(&warm(host, path, lang).await));
        }
    }
    // URL: every variant of it goes.
    let (status, _) = admin(
        node.admin_addr,
        "/purge/url",
        Some(SHOP),
        &[],
        r#"{"url":"http://shop.test/img/a"}"#,
    )
    .await;
    assert_eq!(status, 200);
    for lang in ["en", "fr"] {
        assert!(
            !hit(&warm("shop.test", "/img/a", lang).await),
            "variant {lang} purged"
        );
    }
    assert!(hit(&warm("shop.test", "/img/b", "en").await));
    // Prefix, scoped to the host.
    admin(
        node.admin_addr,
        "/purge/prefix",
        Some(SHOP),
        &[],
        r#"{"prefix":"http://shop.test/img/"}"#,
    )
    .await;
    assert!(!hit(&warm("shop.test", "/img/b", "en").await));
    assert!(hit(&warm("shop.test", "/css/c", "en").await));
    assert!(
        hit(&warm("blog.test", "/img/a", "en").await),
        "other hosts untouched"
    );
    // Everything for one host.
    admin(
        node.admin_addr,
        "/purge/all",
        Some(SHOP),
        &[],
        r#"{"host":"shop.test"}"#,
    )
    .await;
    assert!(!hit(&warm("shop.test", "/css/c", "fr").await));
    assert!(hit(&warm("blog.test", "/img/a", "fr").await));
    node.stop().await;
}

#[tokio::test]
async fn purge_api_auth_and_errors() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let a = node.admin_addr;
    assert_eq!(admin(a, "/purge/key/k", None, &[], "").await.0, 401);
    assert_eq!(
        admin(a, "/purge/key/k", Some("wrong-token-0123456789"), &[], "")
            .await
            .0,
        401
    );
    assert_eq!(
        admin(
            a,
            "/purge/url",
            Some(SHOP),
            &[],
            r#"{"url":"http://blog.test/x"}"#
        )
        .await
        .0,
        403
    );
    let (status, json) = admin(a, "/purge/url", Some(SHOP), &[], r#"{"url":"::nope"}"#).await;
    assert_eq!(status, 400, "{json}");
    assert_eq!(json["error"]["code"], "bad_request");
    assert_eq!(
        admin(a, "/purge/keys", Some(OPERATOR), &[], "{broken")
            .await
            .0,
        400
    );
    node.stop().await;
}

/// A fill that started before a purge and ends after it must not be served as fresh.
#[tokio::test]
async fn purge_during_an_in_flight_fill_wins() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    let origin = Origin::start(move |_| {
        let g = g.clone();
        let body = futures_util::stream::once(async move {
            let _permit = g.acquire().await.expect("gate");
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(bytes::Bytes::from_static(
                b"old",
            )))
        });
        let mut r = http::Response::new(edgecache::body::boxed(http_body_util::StreamBody::new(
            body,
        )));
        r.headers_mut()
            .insert("cache-control", "max-age=600".parse().expect("valid"));
        r.headers_mut()
            .insert("surrogate-key", "k".parse().expect("valid"));
        r
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let url = node.url("/race");
    let fill = tokio::spawn(async move { send("GET", &url, &[("host", "shop.test")]).await });
    wait_until(
        "the fill to reach the origin",
        std::time::Duration::from_secs(10),
        || origin.count("/race") >= 1,
    )
    .await;
    assert_eq!(origin.count("/race"), 1, "the fill reached the origin");
    assert_eq!(
        admin(node.admin_addr, "/purge/key/k", Some(SHOP), &[], "")
            .await
            .0,
        200
    );
    gate.add_permits(10);
    assert_eq!(fill.await.expect("fill").text(), "old");
    let next = get_host(&node, "shop.test", "/race").await;
    assert!(
        !hit(&next),
        "the object fetched before the purge is not served: {}",
        next.cache_status()
    );
    assert_eq!(origin.count("/race"), 2);
    node.stop().await;
}

#[tokio::test]
async fn purges_hold_across_a_restart() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    for path in ["/product/9", "/about"] {
        get_host(&node, "shop.test", path).await;
    }
    assert_eq!(
        admin(node.admin_addr, "/purge/key/product", Some(SHOP), &[], "")
            .await
            .0,
        200
    );
    node.stop().await;
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    assert!(
        hit(&get_host(&node, "shop.test", "/about").await),
        "the unpurged object is warm from disk"
    );
    assert!(
        !hit(&get_host(&node, "shop.test", "/product/9").await),
        "the purge survived the restart"
    );
    node.stop().await;
}

#[tokio::test]
async fn purge_method_is_off_by_default_and_limited_to_networks() {
    let origin = tagging_origin().await;
    for (enabled, cidr, want) in [
        (false, "127.0.0.1/32", 405),
        (true, "10.0.0.0/8", 403),
        (true, "127.0.0.0/8", 200),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = config(&origin.url(), dir.path());
        cfg.purge.public_purge_method = enabled;
        cfg.purge.public_purge_cidrs = vec![cidr.into()];
        let node = TestNode::start(cfg).await;
        get_host(&node, "shop.test", "/p").await;
        let got = send("PURGE", &node.url("/p"), &[("host", "shop.test")]).await;
        assert_eq!(got.status, want, "enabled={enabled} {cidr}: {}", got.text());
        assert_eq!(hit(&get_host(&node, "shop.test", "/p").await), want != 200);
        node.stop().await;
    }
}
