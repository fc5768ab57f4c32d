//! A disk tier that cannot be used does not stop the node: it serves from
//! memory and origin, and says so in /metrics.

mod support;

use support::{Node, Origin, get, reply, test_config};

#[tokio::test]
async fn unusable_disk_tier_serves_from_memory() {
    let origin = Origin::start(|_| reply(200, &[("cache-control", "max-age=60")], "body")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The store's directory is taken by a file.
    std::fs::write(dir.path().join("objects"), b"not a directory").expect("write");
    let node = Node::start(test_config(&origin.url(), dir.path())).await;
    assert_eq!(get(&node.url("/m")).await.text(), "body");
    let hit = get(&node.url("/m")).await;
    assert!(
        hit.cache_status().contains("; hit"),
        "memory tier still caches: {}",
        hit.cache_status()
    );
    let text = support::metrics(node.admin_addr).await;
    assert!(text.contains("edgecache_store_disk_enabled 0"), "{text}");
    node.stop().await;
}
