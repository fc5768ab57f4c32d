//! The store against a real data directory: warm reopen, removals that stay
//! removed, and damaged block files that turn into misses, never wrong bytes.

use bytes::Bytes;
use storage::{ObjectKey, Store, StoreConfig, StoredObject, WritePolicy};

fn config(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        dir: dir.to_path_buf(),
        memory_bytes: 4 << 20,
        disk_bytes: 16 << 20,
        block_bytes: 1 << 20,
        write_policy: WritePolicy::OnInsertion,
        eviction: storage::Eviction::default(),
    }
}

fn object(i: u32) -> StoredObject {
    let body: Vec<u8> = (0..20_000u32)
        .map(|j| (i.wrapping_mul(31).wrapping_add(j) % 251) as u8)
        .collect();
    StoredObject::new(Bytes::from(format!("meta-{i}")), Bytes::from(body))
}

fn key(i: u32) -> ObjectKey {
    ObjectKey::derive(&[b"test", &i.to_le_bytes()])
}

#[tokio::test]
async fn reopen_serves_what_was_stored_and_not_what_was_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(config(dir.path())).await.expect("open");
    for i in 0..50 {
        assert!(store.put(key(i), object(i)));
    }
    store.remove(&key(7));
    store.flush().await;
    store.close().await.expect("close");
    drop(store);

    let store = Store::open(config(dir.path())).await.expect("reopen");
    for i in 0..50 {
        let got = store.get(&key(i)).await;
        if i == 7 {
            assert_eq!(got, None, "a removed object stays removed after restart");
        } else {
            assert_eq!(
                got,
                Some(object(i)),
                "object {i} survives restart byte for byte"
            );
        }
    }
    let stats = store.stats();
    assert_eq!(stats.checksum_failures, 0);
}

#[tokio::test]
async fn damaged_block_files_give_misses_never_wrong_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(config(dir.path())).await.expect("open");
    for i in 0..100 {
        store.put(key(i), object(i));
    }
    store.flush().await;
    store.close().await.expect("close");
    drop(store);

    // Flip bytes all through every block file that holds data.
    let mut damaged = 0;
    for entry in std::fs::read_dir(dir.path()).expect("read dir") {
        let path = entry.expect("entry").path();
        let mut bytes = std::fs::read(&path).expect("read block");
        if bytes.iter().all(|&b| b == 0) {
            continue;
        }
        for pos in (4096..bytes.len()).step_by(7919) {
            bytes[pos] ^= 0x5a;
        }
        std::fs::write(&path, &bytes).expect("write block");
        damaged += 1;
    }
    assert!(damaged > 0, "some block file held data");

    let store = Store::open(config(dir.path()))
        .await
        .expect("reopen after damage");
    let (mut intact, mut missing) = (0, 0);
    for i in 0..100 {
        match store.get(&key(i)).await {
            Some(got) => {
                assert_eq!(
                    got,
                    object(i),
                    "object {i}: a damaged entry must never be served"
                );
                intact += 1;
            }
            None => missing += 1,
        }
    }
    assert!(
        missing > 0,
        "damage made some objects misses ({intact} intact)"
    );
}

#[tokio::test]
async fn oversize_objects_are_refused_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(config(dir.path())).await.expect("open");
    let big = StoredObject::new(Bytes::new(), Bytes::from(vec![0u8; 2 << 20]));
    assert!(!store.put(key(1), big));
    assert_eq!(store.get(&key(1)).await, None);
    assert_eq!(store.stats().oversize_rejects, 1);
}

#[tokio::test]
async fn bad_config_and_unwritable_dir_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.disk_bytes = 1 << 20;
    let err = Store::open(cfg)
        .await
        .err()
        .expect("too small disk budget is refused")
        .to_string();
    assert!(err.contains("disk_bytes"), "{err}");

    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let err = Store::open(config(&file))
        .await
        .err()
        .expect("a file is not a directory")
        .to_string();
    assert!(err.contains("not-a-dir"), "{err}");
}

/// A removed object is gone at once, even while its disk write is still
/// queued (foyer keeps queued entries readable until they are flushed).
#[tokio::test]
async fn removal_wins_over_a_queued_disk_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.memory_bytes = 1 << 20;
    let store = Store::open(cfg).await.expect("open");
    for round in 0..20u32 {
        let keys: Vec<_> = (0..40).map(|i| key(round * 1000 + i)).collect();
        for (i, k) in keys.iter().enumerate() {
            store.put(*k, object(i as u32));
        }
        for k in &keys {
            store.remove(k);
        }
        for k in &keys {
            assert!(
                store.get(k).await.is_none(),
                "round {round}: a removed object came back"
            );
        }
    }
}

/// A directory the disk tier cannot use degrades to a memory-only store that
/// still serves, and says why.
#[tokio::test]
async fn unusable_disk_directory_degrades_to_memory_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let store = Store::open_or_memory(config(&file))
        .await
        .expect("memory-only store");
    assert!(
        store
            .disk_disabled()
            .is_some_and(|why| why.contains("not-a-dir")),
        "{:?}",
        store.disk_disabled()
    );
    assert!(store.put(key(1), object(1)));
    assert_eq!(store.get(&key(1)).await, Some(object(1)));
    let mut bad = config(dir.path());
    bad.memory_bytes = 1;
    assert!(
        Store::open_or_memory(bad).await.is_err(),
        "configuration errors still fail"
    );
}

fn big_body(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 13 + i / 4096) % 251) as u8)
        .collect()
}

async fn read_all(store: &Store, k: &ObjectKey) -> Option<Vec<u8>> {
    let obj = store.get(k).await?;
    let storage::Payload::Chunked(m) = obj.body else {
        panic!("expected a chunked object");
    };
    let mut out = Vec::new();
    for i in 0..m.sums.len() {
        out.extend_from_slice(&store.read_chunk(k, &m, i).await?);
    }
    Some(out)
}

#[tokio::test]
async fn chunked_objects_round_trip_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(config(dir.path())).await.expect("open");
    let body = big_body(3 * (256 << 10) + 777);
    let k = key(1000);
    let mut w = store.chunk_writer(k, 256 << 10);
    for piece in body.chunks(100_003) {
        w.push(piece);
    }
    assert_eq!(w.len(), body.len() as u64);
    assert!(w.finish(Bytes::from_static(b"meta")));
    let obj = store.get(&k).await.expect("manifest stored");
    assert_eq!(obj.meta, Bytes::from_static(b"meta"));
    assert_eq!(obj.body.len(), body.len() as u64);
    let storage::Payload::Chunked(m) = &obj.body else {
        panic!("chunked");
    };
    assert_eq!(m.sums.len(), 4);
    assert_eq!(m.chunks_for(256 << 10, (256 << 10) + 1), 1..=1);
    assert!(store.chunks_present(&k, m));
    assert_eq!(read_all(&store, &k).await.as_deref(), Some(&body[..]));
    assert_eq!(store.stats().chunked_objects, 1);
    store.flush().await;
    store.close().await.expect("close");
    drop(store);

    let store = Store::open(config(dir.path())).await.expect("reopen");
    assert_eq!(
        read_all(&store, &k).await.as_deref(),
        Some(&body[..]),
        "a chunked object survives restart byte for byte"
    );
}

#[tokio::test]
async fn an_unfinished_chunked_fill_leaves_no_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(config(dir.path())).await.expect("open");
    let k = key(2000);
    let mut w = store.chunk_writer(k, 64 << 10);
    w.push(&big_body(300_000));
    drop(w);
    assert_eq!(store.get(&k).await, None, "no manifest, no object");
}

#[tokio::test]
async fn a_missing_chunk_is_reported_not_papered_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(config(dir.path())).await.expect("open");
    let k = key(3000);
    let mut w = store.chunk_writer(k, 64 << 10);
    w.push(&big_body(300_000));
    assert!(w.finish(Bytes::new()));
    let obj = store.get(&k).await.expect("stored");
    let storage::Payload::Chunked(m) = obj.body else {
        panic!("chunked");
    };
    store.remove(&m.chunk_key(&k, 2));
    assert!(!store.chunks_present(&k, &m));
    assert_eq!(store.read_chunk(&k, &m, 2).await, None);
    assert!(store.read_chunk(&k, &m, 1).await.is_some());
    assert_eq!(store.stats().lost_chunks, 1);
}

#[tokio::test]
async fn preallocated_files_are_the_ones_foyer_uses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(config(dir.path())).await.expect("open");
    for i in 0..40 {
        store.put(key(i), object(i));
    }
    store.close().await.expect("close");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("foyer-storage-direct-fs-"))
        .collect();
    names.sort();
    // 16 MiB: a 64 KiB tombstone log, then 15 blocks of 1 MiB; the files
    // the store reserved are exactly the ones foyer uses, at their sizes.
    let want: Vec<String> = (0..16)
        .map(|i| format!("foyer-storage-direct-fs-{i:08}"))
        .collect();
    assert_eq!(names, want);
    for (i, n) in names.iter().enumerate() {
        let meta = std::fs::metadata(dir.path().join(n)).expect("metadata");
        let size = if i == 0 { 64 << 10 } else { 1 << 20 };
        assert_eq!(meta.len(), size, "{n}");
        use std::os::unix::fs::MetadataExt;
        assert!(meta.blocks() * 512 >= size, "{n} is allocated, not sparse");
    }
}

/// A filesystem too small for `disk_bytes` (a 3 MiB tmpfs under a 16 MiB disk
/// tier): opening fails with a clear error instead of foyer hitting ENOSPC
/// later, and `open_or_memory` falls back to memory only. Mounting needs
/// CAP_SYS_ADMIN; without it the test says so and checks nothing else.
#[tokio::test]
async fn a_disk_too_small_for_the_budget_is_refused_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(dir.path())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(dir.path().to_path_buf());
    let cfg = config(&dir.path().join("objects"));
    match Store::open(cfg.clone()).await {
        Err(storage::StoreError::Dir { source, .. }) => {
            let msg = source.to_string();
            assert!(msg.contains("cannot reserve"), "{msg}");
            assert!(msg.contains("disk_bytes"), "names the setting: {msg}");
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a 16 MiB disk tier cannot fit in 3 MiB"),
    }
    let store = Store::open_or_memory(cfg).await.expect("memory-only store");
    assert!(store.disk_disabled().is_some());
    for i in 0..100 {
        store.put(key(i), object(i));
    }
    assert_eq!(
        store.get(&key(99)).await,
        Some(object(99)),
        "memory tier serves"
    );
}

/// Write-on-eviction: what only the memory tier held reaches disk at a clean
/// close, all of it, even when it is more than foyer's write queue takes at
/// once (24 MB here against a 16 MiB queue).
#[tokio::test]
async fn write_on_eviction_offloads_the_whole_memory_tier_at_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = StoreConfig {
        memory_bytes: 40 << 20,
        disk_bytes: 128 << 20,
        write_policy: WritePolicy::OnEviction,
        ..config(dir.path())
    };
    let store = Store::open(cfg.clone()).await.expect("open");
    for i in 0..1200 {
        store.put(key(i), object(i));
    }
    store.close().await.expect("close");
    drop(store);
    let store = Store::open(cfg).await.expect("reopen");
    let mut missing = Vec::new();
    for i in 0..1200 {
        if store.get(&key(i)).await != Some(object(i)) {
            missing.push(i);
        }
    }
    assert!(
        missing.is_empty(),
        "{} objects lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}
