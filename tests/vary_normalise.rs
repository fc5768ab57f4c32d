//! Declared Vary normalisation and the variant cap against a real node and
//! a recording origin: request values that normalise alike cost one origin
//! fetch; past `max_variants_per_url` the oldest variant is evicted.

use crate::support;

use edgecache::config::{Config, SiteConfig, UserAgentRule, VaryFieldConfig};
use support::{Origin, TestNode, metrics, reply, send, test_config};

fn hit(g: &support::Got) -> bool {
    g.cache_status().contains("; hit") && !g.cache_status().contains("fwd=")
}

/// An origin that varies on `vary` and echoes the selecting value.
async fn varying_origin(vary: &'static str) -> Origin {
    Origin::start(move |seen| {
        let value = seen
            .headers
            .get(vary)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        // Content negotiation as an origin with `de` and `en` would do it.
        let lang = if value.contains("de") { "de" } else { "en" };
        reply(
            200,
            &[
                ("cache-control", "max-age=600"),
                ("vary", vary),
                ("content-language", lang),
            ],
            format!("{} {value}", seen.path),
        )
    })
    .await
}

async fn get_with(node: &TestNode, path: &str, name: &str, value: &str) -> support::Got {
    send("GET", &node.url(path), &[(name, value)]).await
}

/// RFC 9111 §4.1, default config (cache-tests `vary-normalise-lang-select`):
/// a variant served in `de` is reused for a request whose most preferred
/// language is `de`, whatever else it lists, and not for one preferring `en`.
#[tokio::test]
async fn content_language_matches_the_most_preferred_language_by_default() {
    let origin = varying_origin("accept-language").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let lang = "accept-language";
    let first = get_with(&node, "/page", lang, "en, de").await;
    assert_eq!(first.header("content-language"), Some("de"));
    for value in ["fr;q=0.5, de;q=1.0", "de", "DE, ja;q=0.2", "en, de"] {
        let again = get_with(&node, "/page", lang, value).await;
        assert!(hit(&again), "{value}: {}", again.cache_status());
        assert_eq!(again.header("content-language"), Some("de"));
    }
    assert_eq!(origin.count("/page"), 1);
    let en = get_with(&node, "/page", lang, "en").await;
    assert!(!hit(&en), "a request preferring en is not served de");
    assert_eq!(en.header("content-language"), Some("en"));
    assert_eq!(origin.count("/page"), 2);
    node.stop().await;
}

/// A configured language list: the request keys as its best match
/// (RFC 9110 §12.5.4), or the default bucket.
#[tokio::test]
async fn configured_languages_bucket_accept_language() {
    let origin = varying_origin("accept-language").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.cache.vary_languages = vec!["en".into(), "de".into()];
    let node = TestNode::start(cfg).await;
    let lang = "accept-language";
    for value in ["de-AT", "de;q=0.9, en;q=0.1", "fr;q=0.1, de", "DE"] {
        get_with(&node, "/l", lang, value).await;
    }
    assert_eq!(
        origin.count("/l"),
        1,
        "every de-preferring request is one variant"
    );
    for value in ["ja", "ko, zh;q=0.5"] {
        get_with(&node, "/l", lang, value).await;
    }
    assert_eq!(
        origin.count("/l"),
        2,
        "unlisted languages share the default bucket"
    );
    node.stop().await;
}

fn with_user_agent_site(origin: &str, dir: &std::path::Path) -> Config {
    let mut cfg = test_config(origin, dir);
    cfg.sites.push(SiteConfig {
        hosts: vec!["ignore.test".into()],
        origin: origin.into(),
        vary_user_agent: Some(UserAgentRule::Ignore),
        ..Default::default()
    });
    cfg
}

const AGENTS: [&str; 6] = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile Safari/537.36",
    "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80) Presto/2.5 Version/10.54 mobi",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36",
    "curl/8.5.0",
];

/// `Vary: User-Agent` is never keyed on the raw string: by default six
/// agents cost two fetches (mobile, desktop); a site that ignores it, one.
#[tokio::test]
async fn user_agent_variants_collapse_to_two_buckets() {
    let origin = varying_origin("user-agent").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(with_user_agent_site(&origin.url(), dir.path())).await;
    for ua in AGENTS {
        get_with(&node, "/ua", "user-agent", ua).await;
    }
    let seen: Vec<String> = origin
        .seen()
        .iter()
        .filter_map(|s| s.headers.get("user-agent")?.to_str().ok().map(String::from))
        .collect();
    assert_eq!(seen, vec![AGENTS[0], AGENTS[3]], "one fetch per bucket");
    let again = get_with(&node, "/ua", "user-agent", "SomePhone Mobile").await;
    assert!(hit(&again), "{}", again.cache_status());
    for ua in AGENTS {
        send(
            "GET",
            &node.url("/ua2"),
            &[("host", "ignore.test"), ("user-agent", ua)],
        )
        .await;
    }
    assert_eq!(
        origin.count("/ua2"),
        1,
        "ignored: one variant for every agent"
    );
    node.stop().await;
}

/// A declared field: listed values key as themselves (lower-cased), any
/// other value and an absent field share the default bucket.
#[tokio::test]
async fn declared_field_values_bucket_the_rest() {
    let origin = varying_origin("x-theme").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.cache.vary_fields = vec![VaryFieldConfig {
        name: "X-Theme".into(),
        lowercase: true,
        values: vec!["dark".into(), "light".into()],
    }];
    let node = TestNode::start(cfg).await;
    for v in ["dark", "DARK", "Dark"] {
        get_with(&node, "/t", "x-theme", v).await;
    }
    assert_eq!(origin.count("/t"), 1);
    for v in ["blue", "green", "<script>"] {
        get_with(&node, "/t", "x-theme", v).await;
    }
    send("GET", &node.url("/t"), &[]).await;
    assert_eq!(
        origin.count("/t"),
        2,
        "unlisted and absent share one bucket"
    );
    node.stop().await;
}

/// Waits until the eviction counter reaches `n` (the index is updated just
/// after the fill completes).
async fn evicted_at_least(node: &TestNode, n: u64) -> u64 {
    let mut last = 0;
    support::wait_until_async(
        &format!("{n} evicted variants"),
        std::time::Duration::from_secs(10),
        async || {
            last = metrics(node.admin_addr)
                .await
                .lines()
                .find(|l| l.starts_with("edgecache_vary_variants_evicted_total "))
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
                .unwrap_or(0);
            last >= n
        },
    )
    .await;
    last
}

/// Past `max_variants_per_url` the oldest variant is evicted, and counted.
#[tokio::test]
async fn variant_cap_evicts_the_oldest() {
    let origin = varying_origin("foo").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.cache.max_variants_per_url = 2;
    let node = TestNode::start(cfg).await;
    for v in ["1", "2"] {
        get_with(&node, "/v", "foo", v).await;
        // The variant is listed in the URL's index by a task spawned when
        // the fill completes; nothing observable says it is done (a probe
        // request could itself miss and fetch again), so give it a moment:
        // the variants must be listed in this order.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(hit(&get_with(&node, "/v", "foo", "1").await));
    get_with(&node, "/v", "foo", "3").await;
    assert_eq!(evicted_at_least(&node, 1).await, 1);
    assert_eq!(origin.count("/v"), 3);
    assert!(
        hit(&get_with(&node, "/v", "foo", "3").await),
        "the newest is kept"
    );
    assert!(
        hit(&get_with(&node, "/v", "foo", "2").await),
        "the cap keeps two"
    );
    let first = get_with(&node, "/v", "foo", "1").await;
    assert!(
        !hit(&first),
        "the oldest was evicted: {}",
        first.cache_status()
    );
    assert_eq!(origin.count("/v"), 4);
    assert_eq!(evicted_at_least(&node, 2).await, 2);
    node.stop().await;
}
