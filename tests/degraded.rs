//! A disk tier that cannot be used does not stop the node: it serves from
//! memory and origin, and says so in /metrics.

use crate::support;

use support::{Origin, TestNode, get, reply, test_config};

#[tokio::test]
async fn unusable_disk_tier_serves_from_memory() {
    let origin = Origin::start(|_| reply(200, &[("cache-control", "max-age=60")], "body")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The store's directory is taken by a file.
    std::fs::write(dir.path().join("objects"), b"not a directory").expect("write");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
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

/// A disk tier of four blocks under a burst of fills far larger than foyer's
/// 16 MiB write queue: foyer evicts blocks and drops writes it cannot queue;
/// the node keeps answering every request with the exact body, from memory,
/// disk or origin, and counts the drops.
#[tokio::test]
async fn a_tiny_disk_tier_under_load_never_costs_a_correct_answer() {
    let origin = Origin::start(|s| {
        let n: usize = s.path.trim_start_matches("/o/").parse().unwrap_or(0);
        reply(
            200,
            &[("cache-control", "max-age=600")],
            vec![b'a' + (n % 26) as u8; BODY],
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.storage.memory_bytes = 1 << 20;
    cfg.storage.disk_bytes = 4 << 20;
    cfg.storage.block_bytes = 1 << 20;
    cfg.storage.chunk_bytes = 256 << 10;
    cfg.storage.max_object_bytes = 1 << 20;
    let node = TestNode::start(cfg).await;
    for round in 0..2 {
        let mut tasks = Vec::new();
        for n in 0..300usize {
            let url = node.url(&format!("/o/{n}"));
            tasks.push(tokio::spawn(async move { (n, get(&url).await) }));
        }
        for t in tasks {
            let (n, got) = t.await.expect("request task");
            assert_eq!(got.status, 200, "round {round} object {n}");
            assert!(
                got.body.len() == BODY && got.body.iter().all(|&b| b == b'a' + (n % 26) as u8),
                "round {round} object {n}: exact body"
            );
        }
    }
    let text = support::metrics(node.admin_addr).await;
    assert_eq!(
        metric(&text, "edgecache_store_disk_enabled"),
        Some(1),
        "{text}"
    );
    let drops = metric(&text, "edgecache_store_disk_write_drops_total");
    assert!(
        drops.is_some_and(|d| d > 0),
        "the burst overran the disk tier, and the drops are counted: {drops:?}\n{text}"
    );
    node.stop().await;
}

/// One object of the burst: stored inline (below `chunk_bytes`), and 300 of
/// them are about 60 MB, several times what foyer queues for the disk.
const BODY: usize = 200_000;

/// The value of an unlabelled metric in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
