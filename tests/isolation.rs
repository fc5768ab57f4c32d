//! Per-tenant upstream concurrency isolation: a saturated origin gets 503
//! with Retry-After after a short queue, while other sites are unaffected.

use crate::support;

use bytes::Bytes;
use edgecache::config::SiteConfig;
use http_body_util::BodyExt;
use std::sync::Arc;
use support::{Origin, TestNode, reply, test_config};

#[tokio::test]
async fn saturated_origin_gets_503_and_other_sites_carry_on() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    let slow = Origin::start(move |_| {
        let g = g.clone();
        let body = futures_util::stream::once(async move {
            let _permit = g.acquire().await.expect("gate");
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from_static(b"slow")))
        });
        let mut r = http::Response::new(edgecache::body::boxed(http_body_util::StreamBody::new(
            body,
        )));
        r.headers_mut()
            .insert("cache-control", "no-store".parse().expect("valid"));
        r
    })
    .await;
    let fast = Origin::start(|_| reply(200, &[("cache-control", "no-store")], "fast")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&fast.url(), dir.path());
    cfg.upstream.queue_timeout_ms = 200;
    cfg.sites.push(SiteConfig {
        hosts: vec!["slow.test".into()],
        origin: slow.url(),
        honor_request_directives: None,
        set_cookie: None,
        max_concurrency: Some(1),
        ..Default::default()
    });
    let node = TestNode::start(cfg).await;
    let client: hyper_util::client::legacy::Client<_, edgecache::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let req = |path: &str, host: &str| {
        http::Request::get(node.url(path))
            .header("host", host)
            .body(edgecache::body::empty())
            .expect("req")
    };
    // The first request holds the slow origin's only slot until its body ends.
    let first = client.request(req("/a", "slow.test")).await.expect("head");
    let second = support::send("GET", &node.url("/b"), &[("host", "slow.test")]).await;
    assert_eq!(second.status, 503, "{}", second.text());
    assert_eq!(second.header("retry-after"), Some("1"));
    assert!(
        second.cache_status().contains("detail=origin-busy"),
        "{}",
        second.cache_status()
    );
    let other = support::send("GET", &node.url("/c"), &[("host", "other.test")]).await;
    assert_eq!(
        (other.status, other.text().as_str()),
        (200, "fast"),
        "other sites are not starved"
    );
    gate.add_permits(10);
    assert_eq!(
        &first.into_body().collect().await.expect("body").to_bytes()[..],
        b"slow"
    );
    let third = support::send("GET", &node.url("/d"), &[("host", "slow.test")]).await;
    assert_eq!(
        third.status, 200,
        "the slot is free again once the body ended"
    );
    node.stop().await;
}
