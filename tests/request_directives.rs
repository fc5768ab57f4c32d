//! Request cache directives (RFC 9111 §5.2.1), honoured or not per site.

use crate::support;

use edgecache::config::SiteConfig;
use support::{Origin, TestNode, reply, send, test_config};

#[tokio::test]
async fn request_no_cache_is_honoured_unless_the_site_turns_it_off() {
    let origin = Origin::start(|_| reply(200, &[("cache-control", "max-age=600")], "doc")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.sites.push(SiteConfig {
        hosts: vec!["strict.test".into()],
        origin: origin.url(),
        honor_request_directives: Some(false),
        set_cookie: None,
        max_concurrency: None,
        ..Default::default()
    });
    let node = TestNode::start(cfg).await;
    let url = node.url("/d");
    for host in ["default.test", "strict.test"] {
        send("GET", &url, &[("host", host)]).await;
    }
    // (host, request fields, served from cache?)
    let cases: &[(&str, &[(&str, &str)], bool)] = &[
        ("default.test", &[("cache-control", "no-cache")], false),
        ("default.test", &[("pragma", "no-cache")], false),
        (
            "default.test",
            &[("cache-control", "min-fresh=1000")],
            false,
        ),
        ("default.test", &[], true),
        ("strict.test", &[("cache-control", "no-cache")], true),
        ("strict.test", &[("pragma", "no-cache")], true),
        ("strict.test", &[("cache-control", "min-fresh=1000")], true),
    ];
    for (host, fields, hit) in cases {
        let mut all = vec![("host", *host)];
        all.extend_from_slice(fields);
        let got = send("GET", &url, &all).await;
        assert_eq!(got.status, 200);
        assert_eq!(
            got.cache_status().contains("; hit"),
            *hit,
            "{host} {fields:?}: {}",
            got.cache_status()
        );
    }
    node.stop().await;
}
