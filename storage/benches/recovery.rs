//! Recovery time: how long the store takes to reopen a data directory that
//! holds 1M objects, and how many of them it serves afterwards.
//!
//! `cargo bench -p storage --bench recovery` fills a store in a temporary
//! directory with `RECOVERY_OBJECTS` (default 1,000,000) objects of a 1 KiB
//! body and 200 B of metadata (disk tier 5 GiB, 16 MiB blocks, 64 MiB memory
//! tier), closes it cleanly, reopens it and times the open, then reads a
//! sample of 10,000 objects and checks every byte.
//!
//! The crash case is a real one: a child process (this binary, re-run with
//! `RECOVERY_CHILD=<dir>`) fills the store, reports each flushed batch, and
//! keeps writing; once it has flushed `RECOVERY_OBJECTS` objects the parent
//! kills it with SIGKILL in the middle of its writes, reopens the directory,
//! and checks the flushed objects byte for byte and the ones written after
//! the last flush (each served intact or missing, never damaged).
//!
//! Both write policies are run: this is the measurement behind the default
//! `write_policy` (docs/storage.md). Run on this machine's real disk, so the
//! page cache is warm: the figure is the CPU cost of recovery, a lower bound
//! on a cold disk. `RECOVERY_POLICY=insertion|eviction` runs one.

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

fn policy_name(p: WritePolicy) -> &'static str {
    match p {
        WritePolicy::OnEviction => "eviction",
        WritePolicy::OnInsertion => "insertion",
    }
}

/// Clean close, reopen, sample.
async fn run_clean(n: usize, policy: WritePolicy) {
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
    store.close().await.expect("close");
    drop(store);
    let t = Instant::now();
    let store = Store::open(config(dir.path(), policy))
        .await
        .expect("reopen");
    let open = t.elapsed();
    let (exact, total) = sample(&store, n).await;
    println!(
        "{policy:?} after a clean close: reopened in {:.2} s; sample {exact}/{total} objects served byte for byte ({:.1}%)",
        open.as_secs_f64(),
        100.0 * exact as f64 / total as f64
    );
    let _ = store.close().await;
}

/// The child: fill the store, print `flushed <count>` after every flushed
/// batch, and never stop writing (until killed).
async fn child(dir: &std::path::Path, policy: WritePolicy) {
    let store = Store::open(config(dir, policy)).await.expect("open");
    let mut i = 0usize;
    loop {
        store.put(key(i), object(i));
        i += 1;
        if i.is_multiple_of(4096) {
            store.flush().await;
            println!("flushed {i}");
        }
    }
}

/// SIGKILL a child while it writes, then reopen and check what it left.
async fn run_killed(n: usize, policy: WritePolicy) {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current exe");
    let mut kid = std::process::Command::new(exe)
        .env("RECOVERY_CHILD", dir.path())
        .env("RECOVERY_POLICY", policy_name(policy))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the writer");
    let out = kid.stdout.take().expect("stdout");
    let mut flushed = 0usize;
    for line in std::io::BufReader::new(out).lines() {
        let Ok(line) = line else { break };
        if let Some(v) = line.strip_prefix("flushed ").and_then(|v| v.parse().ok()) {
            flushed = v;
            if flushed >= n {
                break;
            }
        }
    }
    // SIGKILL, mid-write: the child was putting the next batch.
    kid.kill().expect("kill");
    let _ = kid.wait();
    let t = Instant::now();
    let store = Store::open(config(dir.path(), policy))
        .await
        .expect("reopen");
    let open = t.elapsed();
    let (exact, total) = sample(&store, flushed).await;
    // Written after the last flush the parent saw: intact or missing, never damaged.
    let (mut intact, mut missing, mut damaged) = (0, 0, 0);
    for i in flushed..flushed + 8192 {
        match store.get(&key(i)).await {
            Some(o) if o == object(i) => intact += 1,
            Some(_) => damaged += 1,
            None => missing += 1,
        }
    }
    println!(
        "{policy:?} after SIGKILL mid-write ({flushed} objects flushed): reopened in {:.2} s; sample {exact}/{total} flushed objects served byte for byte ({:.1}%); of the next 8192 written: {intact} intact, {missing} missing, {damaged} damaged",
        open.as_secs_f64(),
        100.0 * exact as f64 / total.max(1) as f64
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
    if let Ok(dir) = std::env::var("RECOVERY_CHILD") {
        rt.block_on(child(std::path::Path::new(&dir), policies[0]));
        return;
    }
    rt.block_on(async {
        for policy in policies {
            run_clean(n, policy).await;
            run_killed(n, policy).await;
        }
    });
}
