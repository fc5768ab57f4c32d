//! Purge benchmarks (run with `cargo bench --bench purge`; see docs/benchmarks.md).
//!
//! 1. A key covering 1,000,000 cached objects: purge latency, and the time
//!    from sending the purge until the next request for one of them misses.
//! 2. Purge API latency (p50/p99) at 1,000 purges/s while the node serves hits.
//! 3. The hit-path cost of the purge check for objects with 1 and 20 keys.
//! 4. The per-lookup cost of the purge check against the size of the purge
//!    history: no bans, 10,000 prefix bans, 100,000 key purges.
//!    `PURGE_BENCH_ONLY=check` runs only this part.
//!
//! Everything runs against real components: an in-process node with its
//! foyer store and redb purge database in a temporary directory, a real
//! origin on 127.0.0.1:0, real sockets.

use bytes::Bytes;
use edgecache::body::{self, Body};
use edgecache::clock;
use edgecache::config::{Config, TokenConfig};
use edgecache::http_cache::cached_response::{CachedResponse, StoredMeta};
use edgecache::http_cache::key;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use storage::{PurgeStore, StoredObject};

const TOKEN: &str = "bench-token-0123456789";
const HOST: &str = "bench.test";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn origin() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind origin");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let mut r =
                            Response::new(body::full(format!("origin {}", req.uri().path())));
                        r.headers_mut()
                            .insert("cache-control", "max-age=3600".parse().expect("valid"));
                        r.headers_mut()
                            .insert("surrogate-key", "big".parse().expect("valid"));
                        Ok::<_, std::convert::Infallible>(r)
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

type HttpClient = Client<HttpConnector, Body>;

async fn request(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body_text: &str,
) -> (StatusCode, HeaderMap) {
    let mut req = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = client
        .request(
            req.body(body::full(body_text.to_string()))
                .expect("request"),
        )
        .await
        .expect("response");
    let (parts, b) = resp.into_parts();
    let _ = b.collect().await;
    (parts.status, parts.headers)
}

fn is_hit(h: &HeaderMap) -> bool {
    h.get("cache-status")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s.contains("; hit") && !s.contains("fwd="))
}

/// Insert `n` objects tagged "big" straight into the node's store, as a fill would.
fn fill(store: &storage::Store, n: usize, purge_seq: u64) {
    let now = clock::now();
    let mut headers = HeaderMap::new();
    headers.insert("cache-control", "max-age=3600".parse().expect("valid"));
    headers.insert("date", httpdate::fmt_http_date(now).parse().expect("valid"));
    for i in 0..n {
        let meta = StoredMeta::Response(CachedResponse {
            status: StatusCode::OK,
            headers: headers.clone(),
            request_time: now,
            response_time: now,
            initial_age: 0,
            variant: vec![],
            purge_seq,
            surrogate_keys: vec!["big".into()],
        });
        let obj = StoredObject::new(meta.encode().into(), Bytes::from(format!("object {i}")));
        store.put(key::primary("http", HOST, &format!("/o/{i}")), obj);
    }
}

/// Nanoseconds per `check` of an object at `target` with `keys`, fetched at `fetched_at`.
fn check_ns(
    purge: &PurgeStore,
    target: &str,
    keys: &[String],
    fetched_at: u64,
) -> (f64, storage::Purged) {
    let rounds = 1_000_000u32;
    let verdict = purge.check(HOST, target, keys, fetched_at);
    let t = clock::instant();
    for _ in 0..rounds {
        assert_eq!(
            std::hint::black_box(purge.check(HOST, target, keys, fetched_at)),
            verdict
        );
    }
    (t.elapsed().as_nanos() as f64 / f64::from(rounds), verdict)
}

/// Part 4: the per-lookup check cost with an empty history, 10,000 prefix
/// bans and 100,000 key purges. Objects are fetched before every purge, so
/// no lookup takes the "nothing purged since" shortcut.
fn check_cost(dir: &std::path::Path) {
    let purge = PurgeStore::open(&dir.join("history-bench.redb")).expect("purge store");
    let keys = vec!["live-0".to_string(), "live-1".to_string()];
    let scope = vec![HOST.to_string()];
    // One purge elsewhere, so the object below predates a purge.
    let fetched_at = purge.current_seq();
    purge
        .purge_keys(&["other.test".to_string()], &["x".to_string()], false)
        .expect("purge");
    let report = |label: &str, purge: &PurgeStore| {
        for target in ["/p/5000/item?q=1", "/q/unbanned/path"] {
            let (ns, verdict) = check_ns(purge, target, &keys, fetched_at);
            println!(
                "purge check, {label}: {target} with 2 keys -> {verdict:?}: {ns:.0} ns per lookup (ban entries in force: {})",
                purge.ban_entries()
            );
        }
    };
    report("no bans", &purge);
    let t = clock::instant();
    for i in 0..10_000 {
        purge
            .ban(
                HOST,
                storage::BanMatch::Prefix(format!("/p/{i}/")),
                i % 2 == 0,
            )
            .expect("ban");
    }
    println!(
        "recorded 10,000 prefix bans in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    report("10,000 prefix bans", &purge);
    let t = clock::instant();
    let history: Vec<String> = (0..100_000).map(|i| format!("old-{i}")).collect();
    for chunk in history.chunks(1000) {
        purge.purge_keys(&scope, chunk, false).expect("purge");
    }
    println!(
        "recorded 100,000 key purges in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    report("10,000 prefix bans and 100,000 key purges", &purge);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var("PURGE_BENCH_ONLY").is_ok_and(|v| v == "check") {
        let dir = tempfile::tempdir().expect("tempdir");
        check_cost(dir.path());
        return;
    }
    let objects: usize = std::env::var("PURGE_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let origin = origin().await;
    let mut cfg = Config {
        origin: Some(format!("http://{origin}")),
        ..Default::default()
    };
    cfg.server.listen = "127.0.0.1:0".parse().expect("addr");
    cfg.admin.listen = "127.0.0.1:0".parse().expect("addr");
    cfg.server.data_dir = dir.path().to_path_buf();
    cfg.storage.memory_bytes = 1 << 30;
    cfg.storage.disk_bytes = 2 << 30;
    cfg.storage.write_policy = edgecache::config::WritePolicy::Eviction;
    cfg.admin.tokens = vec![TokenConfig {
        token: TOKEN.into(),
        hosts: vec!["*".into()],
    }];
    let running = edgecache::node::start(cfg).await.expect("node");
    let (addr, admin) = (running.addr, running.admin_addr);
    let node_handle = running.pipeline();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(running.run(async move {
        let _ = stopped.await;
    }));
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let auth = format!("Bearer {TOKEN}");
    let host = [("host", HOST)];

    // 1. One key covering `objects` objects.
    let t = clock::instant();
    fill(
        &node_handle.services.store,
        objects,
        node_handle.services.purge.current_seq(),
    );
    println!(
        "filled {objects} objects tagged `big` in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let probe = format!("http://{addr}/o/{}", objects / 2);
    let (_, h) = request(&client, "GET", &probe, &host, "").await;
    assert!(is_hit(&h), "the probe object is cached before the purge");
    let t = clock::instant();
    let (status, _) = request(
        &client,
        "POST",
        &format!("http://{admin}/purge/key/big"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    let purge_latency = t.elapsed();
    assert_eq!(status, StatusCode::OK);
    let (_, h) = request(&client, "GET", &probe, &host, "").await;
    let until_miss = t.elapsed();
    assert!(!is_hit(&h), "the next request after the purge misses");
    println!(
        "purge of a key covering {objects} objects: API answered in {:.2} ms; next request for a covered object missed {:.2} ms after the purge was sent",
        purge_latency.as_secs_f64() * 1e3,
        until_miss.as_secs_f64() * 1e3
    );

    // 2. Purge latency at 1,000 purges/s while hits are served.
    let hot = format!("http://{addr}/hot");
    request(&client, "GET", &hot, &host, "").await;
    let running_hits = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let hits = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut loaders = Vec::new();
    for _ in 0..4 {
        let (client, hot, flag, hits) = (
            client.clone(),
            hot.clone(),
            running_hits.clone(),
            hits.clone(),
        );
        loaders.push(tokio::spawn(async move {
            while flag.load(std::sync::atomic::Ordering::Relaxed) {
                let (_, h) = request(&client, "GET", &hot, &[("host", HOST)], "").await;
                if is_hit(&h) {
                    hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    let seconds = 5u64;
    let mut interval = tokio::time::interval(Duration::from_millis(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut pending = Vec::new();
    let started = clock::instant();
    for i in 0..(seconds * 1000) {
        interval.tick().await;
        let (client, url, auth) = (
            client.clone(),
            format!("http://{admin}/purge/key/k{i}"),
            auth.clone(),
        );
        pending.push(tokio::spawn(async move {
            let t = clock::instant();
            let (status, _) = request(&client, "POST", &url, &[("authorization", &auth)], "").await;
            assert_eq!(status, StatusCode::OK);
            t.elapsed()
        }));
    }
    let mut latencies = Vec::new();
    for p in pending {
        latencies.push(p.await.expect("purge task"));
    }
    let elapsed = started.elapsed();
    running_hits.store(false, std::sync::atomic::Ordering::Relaxed);
    for l in loaders {
        let _ = l.await;
    }
    latencies.sort();
    println!(
        "purge API at 1000/s for {seconds} s ({} purges in {:.2} s, offered rate kept: {}): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; hits served meanwhile: {} ({:.0}/s)",
        latencies.len(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() < seconds as f64 * 1.1,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies
            .last()
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(0.0),
        hits.load(std::sync::atomic::Ordering::Relaxed),
        hits.load(std::sync::atomic::Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
    );

    // 3. Hit-path cost of the purge check, with a purge history of 10,000 keys.
    let purge = PurgeStore::open(&dir.path().join("check-bench.redb")).expect("purge store");
    let fetched_at = purge.current_seq();
    let scope = vec![HOST.to_string()];
    let history: Vec<String> = (0..10_000).map(|i| format!("old-{i}")).collect();
    for chunk in history.chunks(1000) {
        purge.purge_keys(&scope, chunk, false).expect("purge");
    }
    for n in [1usize, 20] {
        let keys: Vec<String> = (0..n).map(|i| format!("live-{i}")).collect();
        let rounds = 1_000_000;
        let t = clock::instant();
        let mut not_purged = 0u64;
        for i in 0..rounds {
            let target = if i % 2 == 0 { "/a" } else { "/b" };
            if purge.check(HOST, target, &keys, fetched_at) == storage::Purged::No {
                not_purged += 1;
            }
        }
        let per = t.elapsed().as_nanos() as f64 / rounds as f64;
        assert_eq!(not_purged, rounds as u64);
        println!("purge check on the hit path, {n:>2} key(s) per object: {per:.0} ns per lookup");
    }

    // 4. Check cost against the size of the purge history.
    check_cost(dir.path());

    let _ = stop.send(());
    let _ = task.await;
}
