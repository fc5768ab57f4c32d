//! `edgecache stats` and `health`, and the admin address taken from a config file.

use crate::support::TestNode;
use crate::{config, edgecache, is_hit, tagging_origin};

#[tokio::test]
async fn stats_prints_a_hit_ratio_after_some_hits() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    is_hit(&node, "shop.test", "/s").await;
    for _ in 0..3 {
        assert!(is_hit(&node, "shop.test", "/s").await);
    }
    let out = edgecache(&["stats", "--admin", &node.admin_addr.to_string()]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("hit ratio"))
        .unwrap_or_else(|| panic!("no hit ratio line: {out:?}"));
    let ratio: f64 = line
        .split_whitespace()
        .nth(2)
        .and_then(|p| p.strip_suffix('%'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no percentage in {line:?}"));
    assert!((50.0..100.0).contains(&ratio), "1 miss, 3 hits: {line}");
    let raw = edgecache(&["stats", "--raw", "--admin", &node.admin_addr.to_string()]).await;
    assert!(raw.stdout.contains("# TYPE edgecache_"), "{raw:?}");
    node.stop().await;
}

#[tokio::test]
async fn the_admin_address_comes_from_the_config_file() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let file = dir.path().join("edgecache.toml");
    std::fs::write(
        &file,
        format!("[admin]\nlisten = \"{}\"\n", node.admin_addr),
    )
    .expect("write");
    let file = file.to_str().expect("utf-8");
    let out = edgecache(&["health", "--config", file]).await;
    assert_eq!((out.code, out.stdout.trim()), (Some(0), "ok"), "{out:?}");
    let out = edgecache(&["--config", file, "stats"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("hit ratio"), "{out:?}");
    node.stop().await;
    // The node is gone: health fails.
    let out = edgecache(&["health", "--config", file]).await;
    assert_eq!(out.code, Some(3), "{out:?}");
}
