//! Origin-triggered invalidation against a real node: a response field
//! from the site's origin purges surrogate keys through the purge path
//! (durable across restarts), is removed before the response goes on, is
//! capped, and does nothing unless turned on.

use crate::support;

use edgecache::config::{Config, SiteConfig};
use support::{Origin, TestNode, metrics, reply, send, test_config};

const FIELD: &str = "edgecache-purge-keys";

fn hit(g: &support::Got) -> bool {
    g.cache_status().contains("; hit") && !g.cache_status().contains("fwd=")
}

/// GETs of `/product/N` are tagged `product-N`; a POST to `/purge/<keys>`
/// answers with the purge field naming `<keys>` (`+` for a space).
async fn shop_origin() -> Origin {
    Origin::start(|seen| {
        if seen.method == http::Method::POST {
            let keys = seen.path.trim_start_matches("/purge/").replace('+', " ");
            return reply(200, &[(FIELD, keys.as_str())], "updated");
        }
        let tag = seen.path.replace("/product/", "product-");
        reply(
            200,
            &[
                ("cache-control", "max-age=600"),
                ("surrogate-key", tag.as_str()),
            ],
            seen.path.clone(),
        )
    })
    .await
}

fn config(origin: &str, dir: &std::path::Path, on: bool) -> Config {
    let mut cfg = test_config(origin, dir);
    if on {
        cfg.cache.origin_purge_header = Some("Edgecache-Purge-Keys".into());
    }
    cfg
}

async fn get(node: &TestNode, path: &str) -> support::Got {
    send("GET", &node.url(path), &[("host", "shop.test")]).await
}

async fn post(node: &TestNode, path: &str) -> support::Got {
    send("POST", &node.url(path), &[("host", "shop.test")]).await
}

fn metric(text: &str, prefix: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn post_response_field_purges_tagged_objects() {
    let origin = shop_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path(), true)).await;
    for p in ["/product/1", "/product/2"] {
        get(&node, p).await;
        assert!(hit(&get(&node, p).await), "{p} is cached");
    }
    let answer = post(&node, "/purge/product-1").await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header(FIELD),
        None,
        "the field is not forwarded downstream"
    );
    let after = get(&node, "/product/1").await;
    assert!(!hit(&after), "purged: {}", after.cache_status());
    assert_eq!(origin.count("/product/1"), 2);
    assert!(hit(&get(&node, "/product/2").await), "other keys stay");
    let text = metrics(node.admin_addr).await;
    assert_eq!(
        metric(&text, "edgecache_origin_purges_total{outcome=\"applied\"}"),
        1
    );
    assert_eq!(
        metric(&text, "edgecache_purges_total{kind=\"key\",mode=\"hard\"}"),
        1
    );
    node.stop().await;
}

#[tokio::test]
async fn field_is_ignored_and_passed_through_when_off() {
    let origin = shop_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&origin.url(), dir.path(), true);
    // [cache] turns it on; this site turns it off again.
    cfg.sites.push(SiteConfig {
        hosts: vec!["off.test".into()],
        origin: origin.url(),
        origin_purge_header: Some(String::new()),
        ..Default::default()
    });
    let node = TestNode::start(cfg).await;
    let dir2 = tempfile::tempdir().expect("tempdir");
    let default_off = TestNode::start(config(&origin.url(), dir2.path(), false)).await;
    for (n, host) in [(&node, "off.test"), (&default_off, "shop.test")] {
        send("GET", &n.url("/product/7"), &[("host", host)]).await;
        let answer = send("POST", &n.url("/purge/product-7"), &[("host", host)]).await;
        assert_eq!(
            answer.header(FIELD),
            Some("product-7"),
            "{host}: an ordinary header when off"
        );
        let again = send("GET", &n.url("/product/7"), &[("host", host)]).await;
        assert!(
            hit(&again),
            "{host}: nothing purged: {}",
            again.cache_status()
        );
    }
    node.stop().await;
    default_off.stop().await;
}

#[tokio::test]
async fn keys_beyond_the_caps_are_dropped_and_counted() {
    let origin = shop_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&origin.url(), dir.path(), true);
    cfg.cache.origin_purge_max_keys = 2;
    cfg.cache.origin_purge_max_key_bytes = 16;
    let node = TestNode::start(cfg).await;
    for n in 1..=3 {
        get(&node, &format!("/product/{n}")).await;
    }
    let long = "x".repeat(17);
    post(
        &node,
        &format!("/purge/{long}+product-1+product-2+product-3"),
    )
    .await;
    assert!(!hit(&get(&node, "/product/1").await));
    assert!(!hit(&get(&node, "/product/2").await));
    assert!(
        hit(&get(&node, "/product/3").await),
        "the third key is past the cap"
    );
    let text = metrics(node.admin_addr).await;
    assert_eq!(
        metric(&text, "edgecache_origin_purge_keys_dropped_total"),
        2
    );
    node.stop().await;
}

#[tokio::test]
async fn origin_purge_survives_a_restart() {
    let origin = shop_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path(), true)).await;
    for p in ["/product/1", "/product/2"] {
        get(&node, p).await;
    }
    post(&node, "/purge/product-1").await;
    node.stop().await;
    let node = TestNode::start(config(&origin.url(), dir.path(), true)).await;
    assert!(
        hit(&get(&node, "/product/2").await),
        "the unpurged object is warm from disk"
    );
    assert!(
        !hit(&get(&node, "/product/1").await),
        "the purge survived the restart"
    );
    node.stop().await;
}
