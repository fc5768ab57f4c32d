//! Recovery time: how long the store takes to reopen a data directory that
//! holds 1M objects, and how many of them it serves afterwards.
//!
//! `cargo bench -p storage --bench recovery` fills a store in a temporary
//! directory with `RECOVERY_OBJECTS` (default 1,000,000) objects of a 1 KiB
//! body and 200 B of metadata (disk tier 5 GiB, 16 MiB blocks, 64 MiB memory
//! tier), closes it cleanly, reopens it and times the open, then reads a
//! sample of 10,000 objects and checks every byte. It also reopens after a
//! simulated crash (the store is dropped without close) and reports the
//! same. Both write policies are run: this is the measurement behind the
//! default `write_policy` (docs/storage.md). Run on this machine's real disk,
//! so the page cache is warm: the figure is the CPU cost of recovery, a lower
//! bound on a cold disk. `RECOVERY_POLICY=insertion|eviction` runs one.

// A benchmark reads the clock to time itself; the rule is for the node.
#![allow(clippy::disallowed_methods)]

use bytes::Bytes;
use std::time::Instant;
use storage::{Eviction, ObjectKey, Store, StoreConfig, StoredObject, WritePolicy};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(i: usize) -> ObjectKey {
    ObjectKey::derive(&[b"recovery", &(i as u64).to_le_bytes()])
}

fn object(i: usize) -> StoredObject {
    let mut meta = vec![b'm'; 200];
    meta[..8].copy_from_slice(&(i as u64).to_le_bytes());
    let mut body = vec![(i % 251) as u8; 1024];
    body[..8].copy_from_slice(&(i as u64).to_le_bytes());
    StoredObject::new(Bytes::from(meta), Bytes::from(body))
}

fn config(dir: &std::path::Path, write_policy: WritePolicy) -> StoreConfig {
    StoreConfig {
        dir: dir.to_path_buf(),
        memory_bytes: 64 << 20,
        disk_bytes: 5 << 30,
        block_bytes: 16 << 20,
        write_policy,
        eviction: Eviction::default(),
    }
}

async fn fill(store: &Store, n: usize) {
    for i in 0..n {
        store.put(key(i), object(i));
        // Let the disk tier keep up, as the node's fills do under load.
        if i % 4096 == 4095 {
            store.flush().await;
        }
    }
    store.flush().await;
}

async fn sample(store: &Store, n: usize) -> (usize, usize) {
    let step = (n / 10_000).max(1);
    let (mut exact, mut total) = (0, 0);
    for i in (0..n).step_by(step) {
        total += 1;
        if store.get(&key(i)).await == Some(object(i)) {
            exact += 1;
        }
    }
    (exact, total)
}

async fn run(n: usize, crash: bool, policy: WritePolicy) {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = Instant::now();
    let store = Store::open(config(dir.path(), policy)).await.expect("open");
    fill(&store, n).await;
    let stats = store.stats();
    println!(
        "{policy:?}: filled {n} objects in {:.1} s ({} disk writes, {} dropped)",
        t.elapsed().as_secs_f64(),
        stats.disk_writes_enqueued,
        stats.disk_write_drops
    );
    if crash {
        // No close: what a kill -9 leaves (the page cache still holds the writes).
        drop(store);
    } else {
        store.close().await.expect("close");
        drop(store);
    }
    let t = Instant::now();
    let store = Store::open(config(dir.path(), policy))
        .await
        .expect("reopen");
    let open = t.elapsed();
    let (exact, total) = sample(&store, n).await;
    println!(
        "{policy:?} {}: reopened in {:.2} s; sample {exact}/{total} objects served byte for byte ({:.1}%)",
        if crash {
            "after a crash (no close)"
        } else {
            "after a clean close"
        },
        open.as_secs_f64(),
        100.0 * exact as f64 / total as f64
    );
    let _ = store.close().await;
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env("RECOVERY_OBJECTS", 1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let policies = match std::env::var("RECOVERY_POLICY").as_deref() {
        Ok("insertion") => vec![WritePolicy::OnInsertion],
        Ok("eviction") => vec![WritePolicy::OnEviction],
        _ => vec![WritePolicy::OnInsertion, WritePolicy::OnEviction],
    };
    rt.block_on(async {
        for policy in policies {
            run(n, false, policy).await;
            run(n, true, policy).await;
        }
    });
}
