//! Large objects against a real origin and the real store: bodies longer than
//! `chunk_bytes` are stored in chunks while they stream, served back byte for
//! byte, and range requests read only the chunks they need.

use crate::support;

use support::{Origin, TestNode, get, metrics, reply, send, test_config};

const LEN: usize = 10 * 1024 * 1024 + 12_345;
const CHUNK: u64 = 256 * 1024;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + i / 1000) % 251) as u8).collect()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

async fn store_reads(node: &TestNode) -> u64 {
    let m = metrics(node.admin_addr).await;
    metric(&m, "edgecache_store_memory_hits_total") + metric(&m, "edgecache_store_disk_hits_total")
}

/// An origin answering every request with `body`, fresh for an hour.
async fn origin_serving(body: Vec<u8>) -> Origin {
    Origin::start(move |_| reply(200, &[("cache-control", "max-age=3600")], body.clone())).await
}

fn config(origin: &str, dir: &std::path::Path) -> edgecache::config::Config {
    let mut cfg = test_config(origin, dir);
    cfg.storage.chunk_bytes = CHUNK;
    cfg.storage.max_object_bytes = 24 << 20;
    cfg
}

#[tokio::test]
async fn a_body_longer_than_a_chunk_is_stored_in_chunks_and_served_exactly() {
    let body = pattern(LEN);
    let origin = origin_serving(body.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;

    let first = get(&node.url("/big")).await;
    assert_eq!(first.status, 200);
    assert!(first.body == body, "miss streams the exact body");
    assert!(
        first.cache_status().contains("stored"),
        "{}",
        first.cache_status()
    );

    let m = metrics(node.admin_addr).await;
    assert_eq!(metric(&m, "edgecache_store_chunked_objects_total"), 1);

    let before = store_reads(&node).await;
    let hit = get(&node.url("/big")).await;
    assert!(hit.cache_status().contains("hit"), "{}", hit.cache_status());
    assert_eq!(hit.header("content-length"), Some(LEN.to_string().as_str()));
    assert!(hit.body == body, "hit is byte for byte the origin's body");
    let chunks = (LEN as u64).div_ceil(CHUNK);
    assert_eq!(
        store_reads(&node).await - before,
        1 + chunks,
        "a full hit reads the manifest and every chunk"
    );

    // A range in the middle spanning one chunk boundary reads two chunks.
    let (s, e) = (3 * CHUNK - 10, 3 * CHUNK + 9);
    let before = store_reads(&node).await;
    let part = send(
        "GET",
        &node.url("/big"),
        &[("range", &format!("bytes={s}-{e}"))],
    )
    .await;
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes {s}-{e}/{LEN}").as_str())
    );
    assert!(part.body[..] == body[s as usize..=e as usize]);
    assert_eq!(
        store_reads(&node).await - before,
        3,
        "the manifest and the two chunks the range covers, nothing else"
    );

    // The last bytes, from a short final chunk.
    let tail = send("GET", &node.url("/big"), &[("range", "bytes=-100")]).await;
    assert_eq!(tail.status, 206);
    assert!(tail.body[..] == body[LEN - 100..]);
    assert_eq!(
        origin.count("/big"),
        1,
        "every answer after the first came from the cache"
    );
    node.stop().await;
}

#[tokio::test]
async fn chunked_objects_survive_a_restart() {
    let body = pattern(LEN);
    let origin = origin_serving(body.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    // The cache key holds the Host; keep it across the restart (the port changes).
    let host = [("host", "cdn.test")];
    assert!(send("GET", &node.url("/big"), &host).await.body == body);
    node.stop().await;

    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let again = send("GET", &node.url("/big"), &host).await;
    assert!(
        again.cache_status().contains("hit"),
        "{}",
        again.cache_status()
    );
    assert!(again.body == body, "served warm from disk, byte for byte");
    assert_eq!(origin.count("/big"), 1);
    node.stop().await;
}

/// GET (Host `cdn.test`, so the key survives a restart on a new port)
/// without trusting the body to complete: Err when the connection is cut.
async fn try_get(url: &str) -> Result<(u16, bytes::Bytes), String> {
    use http_body_util::BodyExt;
    let client: hyper_util::client::legacy::Client<_, edgecache::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let req = http::Request::get(url)
        .header("host", "cdn.test")
        .body(edgecache::body::empty())
        .map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

#[tokio::test]
async fn damaged_chunks_on_disk_give_a_miss_or_a_cut_response_never_wrong_bytes() {
    let body = pattern(LEN);
    let origin = origin_serving(body.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let (_, first) = try_get(&node.url("/big")).await.expect("first fetch");
    assert!(first == body);
    node.stop().await;

    // Flip bytes all through every block file that holds data.
    let objects = dir.path().join("objects");
    let mut damaged = 0;
    for entry in std::fs::read_dir(&objects).expect("objects dir") {
        let path = entry.expect("entry").path();
        let Ok(mut bytes) = std::fs::read(&path) else {
            continue;
        };
        if bytes.len() < 1 << 20 || bytes.iter().all(|&b| b == 0) {
            continue;
        }
        for pos in (200_000..bytes.len()).step_by(400_009) {
            bytes[pos] ^= 0x5a;
        }
        std::fs::write(&path, &bytes).expect("write block");
        damaged += 1;
    }
    assert!(damaged > 0, "the fill reached the disk");

    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    match try_get(&node.url("/big")).await {
        Ok((status, got)) => {
            assert_eq!(status, 200);
            assert!(got == body, "a complete answer is the exact body");
        }
        Err(e) => eprintln!("response cut short as expected: {e}"),
    }
    let m = metrics(node.admin_addr).await;
    eprintln!(
        "checksum failures {}, lost chunks {}, misses {}",
        metric(&m, "edgecache_store_checksum_failures_total"),
        metric(&m, "edgecache_store_lost_chunks_total"),
        metric(&m, "edgecache_store_misses_total")
    );
    assert!(
        metric(&m, "edgecache_store_checksum_failures_total")
            + metric(&m, "edgecache_store_lost_chunks_total")
            + metric(&m, "edgecache_store_misses_total")
            > 0,
        "the damage was noticed"
    );
    // The damaged object is gone: the next answers are exact.
    for _ in 0..2 {
        let (status, got) = try_get(&node.url("/big")).await.expect("complete answer");
        assert_eq!(status, 200);
        assert!(got == body);
    }
    assert!(
        origin.count("/big") >= 2,
        "the damaged object was refetched"
    );
    node.stop().await;
}

#[tokio::test]
async fn objects_above_max_object_bytes_pass_through_uncached() {
    let body = pattern(3 << 20);
    let origin = origin_serving(body.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&origin.url(), dir.path());
    cfg.storage.max_object_bytes = 2 << 20;
    let node = TestNode::start(cfg).await;
    for _ in 0..2 {
        let got = get(&node.url("/huge")).await;
        assert!(got.body == body);
        assert!(
            got.cache_status().contains("detail=too-large"),
            "{}",
            got.cache_status()
        );
    }
    assert_eq!(
        origin.count("/huge"),
        2,
        "never stored, so both went upstream"
    );
    node.stop().await;
}
