//! `/metrics`: per-site request, outcome and byte counters, origin and
//! request latency histograms, purges by kind, in a valid OpenMetrics
//! exposition.

use crate::support;

use edgecache::config::{SiteConfig, TokenConfig};
use support::{Origin, TestNode, admin, get, metrics, reply, send, test_config};

/// The value of the sample `line_start` (a metric name with its labels).
fn sample(m: &str, line_start: &str) -> Option<f64> {
    m.lines()
        .find_map(|l| l.strip_prefix(line_start)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

#[tokio::test]
async fn requests_outcomes_bytes_and_latency_are_counted_per_site() {
    let origin = Origin::start(|req| match req.path.split('?').next().unwrap_or("") {
        "/big" => reply(200, &[("cache-control", "max-age=600")], vec![b'x'; 10_000]),
        _ => reply(200, &[("cache-control", "no-store")], "pass"),
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.origin = None;
    cfg.sites = vec![SiteConfig {
        name: Some("shop".into()),
        hosts: vec!["shop.test".into()],
        origin: origin.url(),
        ..Default::default()
    }];
    cfg.admin.tokens = vec![TokenConfig {
        token: "metrics-test-token-0123456789abcdef".into(),
        hosts: vec!["*".into()],
    }];
    let node = TestNode::start(cfg).await;
    let host = [("host", "shop.test")];
    for _ in 0..3 {
        assert_eq!(
            send("GET", &node.url("/big"), &host).await.body.len(),
            10_000
        );
    }
    assert_eq!(send("GET", &node.url("/p"), &host).await.text(), "pass");
    // No site serves this host.
    assert_eq!(
        send("GET", &node.url("/"), &[("host", "nowhere.test")])
            .await
            .status,
        502
    );
    admin(
        node.admin_addr,
        "/purge/key/k1",
        Some("metrics-test-token-0123456789abcdef"),
        &[],
        r#"{"host":"shop.test"}"#,
    )
    .await;

    // Counting happens as each body ends; poll until the last is in.
    let mut m = String::new();
    support::wait_until_async(
        "the 5xx to be counted",
        std::time::Duration::from_secs(10),
        async || {
            m = metrics(node.admin_addr).await;
            sample(
                &m,
                r#"edgecache_requests_total{site="-",protocol="http/1.1",status="5xx"}"#,
            ) == Some(1.0)
        },
    )
    .await;
    let want = [
        (
            r#"edgecache_requests_total{site="shop",protocol="http/1.1",status="2xx"}"#,
            4.0,
        ),
        (
            r#"edgecache_cache_results_total{site="shop",outcome="miss",reason="uri-miss"}"#,
            1.0,
        ),
        // The pass-through answer was a miss the origin marked no-store.
        (
            r#"edgecache_cache_results_total{site="shop",outcome="miss",reason="no-store"}"#,
            1.0,
        ),
        (
            r#"edgecache_cache_results_total{site="shop",outcome="hit",reason="fresh"}"#,
            2.0,
        ),
        (
            r#"edgecache_response_body_bytes_total{site="shop",source="memory"}"#,
            20_000.0,
        ),
        (
            r#"edgecache_response_body_bytes_total{site="shop",source="origin"}"#,
            10_004.0,
        ),
        (
            r#"edgecache_origin_first_byte_seconds_count{site="shop"}"#,
            2.0,
        ),
        (
            r#"edgecache_request_duration_seconds_count{site="shop"}"#,
            4.0,
        ),
        (
            r#"edgecache_cache_results_total{site="-",outcome="error",reason="no-origin"}"#,
            1.0,
        ),
        (r#"edgecache_purges_total{kind="key",mode="hard"}"#, 1.0),
    ];
    for (name, value) in want {
        assert_eq!(sample(&m, name), Some(value), "{name} in\n{m}");
    }
    // The store and connection families are still there.
    assert!(
        sample(&m, "edgecache_store_memory_hits_total").is_some_and(|v| v >= 2.0),
        "{m}"
    );
    assert!(m.contains("# TYPE edgecache_connections_open gauge"), "{m}");
    assert!(
        m.trim_end().ends_with("# EOF"),
        "an OpenMetrics exposition ends with # EOF"
    );
    node.stop().await;
}

#[tokio::test]
async fn the_exposition_is_well_formed() {
    let origin = Origin::start(|_| reply(200, &[("cache-control", "max-age=60")], "ok")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    get(&node.url("/a")).await;
    get(&node.url("/a")).await;
    // Counted as each body ends, just after the client has it.
    let mut m = String::new();
    support::wait_until_async(
        "both requests' durations to be counted",
        std::time::Duration::from_secs(10),
        async || {
            m = metrics(node.admin_addr).await;
            m.contains(r#"edgecache_request_duration_seconds_count{site="default"} 2"#)
        },
    )
    .await;
    let mut declared = std::collections::HashSet::new();
    for line in m.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().expect("name");
            assert!(declared.insert(name.to_string()), "{name} declared twice");
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        // name{labels} value
        let (series, value) = line.rsplit_once(' ').expect("a value");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().expect("name");
        assert!(
            declared.iter().any(|d| name.starts_with(d.as_str())),
            "{name} has no TYPE line"
        );
    }
    // Histogram buckets are cumulative and end at +Inf.
    let buckets: Vec<f64> = m
        .lines()
        .filter(|l| {
            l.starts_with("edgecache_request_duration_seconds_bucket{")
                && l.contains(r#"site="default""#)
        })
        .map(|l| {
            l.rsplit_once(' ')
                .expect("value")
                .1
                .parse()
                .expect("number")
        })
        .collect();
    assert!(buckets.len() > 5, "{m}");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(buckets.last().copied(), Some(2.0));
    node.stop().await;
}
