//! RSS against the memory budget: the real `edgecache` binary is filled with
//! 1M distinct objects over 10 minutes while its resident set size is sampled
//! every second.
//!
//! `cargo bench --bench rss_budget` starts an origin on 127.0.0.1:0 that
//! answers `/o/N` with a 1 KiB body (`max-age=3600`), spawns the release
//! binary with a `RSS_MEMORY_MIB` (default 64) MiB memory tier and a 2 GiB
//! disk tier in a temporary directory, and sends `RSS_OBJECTS` (default
//! 1,000,000) requests for distinct URLs, paced evenly over `RSS_SECS`
//! (default 600) seconds from 16 concurrent clients. It prints RSS before the
//! fill, the peak (VmHWM) and the final RSS, and the overhead above the
//! memory budget, then the store's own memory-tier gauge. Every response is
//! checked (status 200, body length).

#[path = "../tests/support/process.rs"]
mod process;

use edgecache::body::{self, Body};
use edgecache::clock;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn origin() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind origin");
    let addr = listener.local_addr().expect("addr");
    let payload = bytes::Bytes::from(vec![b'x'; 1024]);
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let payload = payload.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                        let payload = payload.clone();
                        async move {
                            let mut r = Response::new(body::full(payload));
                            r.headers_mut()
                                .insert("cache-control", "max-age=3600".parse().expect("valid"));
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn metric(admin: SocketAddr, name: &str) -> u64 {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let req = Request::get(format!("http://{admin}/metrics"))
        .body(body::empty())
        .expect("request");
    let Ok(resp) = client.request(req).await else {
        return 0;
    };
    let text = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let memory_mib = env("RSS_MEMORY_MIB", 64);
    let objects = env("RSS_OBJECTS", 1_000_000);
    let secs = env("RSS_SECS", 600);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let origin = origin().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("edgecache.toml");
        std::fs::write(
            &config,
            format!(
                "origin = \"http://{origin}\"\n[storage]\nmemory_bytes = {}\ndisk_bytes = 2147483648\n",
                memory_mib << 20
            ),
        )
        .expect("config");
        let node = process::spawn(
            &["--config", config.to_str().expect("utf-8")],
            &dir.path().join("data"),
        );
        let pid = node.child.id();
        let before = status_kib(pid, "VmRSS:");
        let client: Client<HttpConnector, Body> =
            Client::builder(TokioExecutor::new()).build_http();
        let next = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicUsize::new(0));
        let start = clock::instant();
        let per_request = Duration::from_secs_f64(secs as f64 / objects as f64);
        let mut workers = Vec::new();
        for _ in 0..16 {
            let (client, next, errors) = (client.clone(), next.clone(), errors.clone());
            let base = format!("http://{}", node.addr);
            workers.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= objects {
                        return;
                    }
                    // Pace: request i is due at start + i * per_request.
                    let due = start + per_request * i as u32;
                    tokio::time::sleep_until(due.into()).await;
                    let req = Request::get(format!("{base}/o/{i}"))
                        .header("host", "rss.test")
                        .body(body::empty())
                        .expect("request");
                    let ok = match client.request(req).await {
                        Ok(resp) if resp.status() == 200 => resp
                            .into_body()
                            .collect()
                            .await
                            .is_ok_and(|b| b.to_bytes().len() == 1024),
                        _ => false,
                    };
                    if !ok {
                        errors.fetch_add(1, Relaxed);
                    }
                }
            }));
        }
        let sampler = {
            let next = next.clone();
            tokio::spawn(async move {
                let mut peak_seen = 0;
                while next.load(Relaxed) < objects {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    peak_seen = peak_seen.max(status_kib(pid, "VmRSS:"));
                }
                peak_seen
            })
        };
        for w in workers {
            let _ = w.await;
        }
        let elapsed = start.elapsed();
        let sampled_peak = sampler.await.unwrap_or(0);
        let hwm = status_kib(pid, "VmHWM:");
        let last = status_kib(pid, "VmRSS:");
        let tier = metric(node.admin_addr, "edgecache_store_memory_bytes").await;
        let drops = metric(node.admin_addr, "edgecache_store_disk_write_drops_total").await;
        let budget_kib = memory_mib << 10;
        println!(
            "{objects} objects in {:.0} s ({} errors); memory budget {memory_mib} MiB",
            elapsed.as_secs_f64(),
            errors.load(Relaxed)
        );
        println!("RSS before fill: {} MiB", before >> 10);
        println!(
            "RSS peak (VmHWM): {} MiB = budget + {} MiB (sampled peak {} MiB)",
            hwm >> 10,
            hwm.saturating_sub(budget_kib) >> 10,
            sampled_peak >> 10
        );
        println!(
            "RSS at end: {} MiB = budget + {} MiB",
            last >> 10,
            last.saturating_sub(budget_kib) >> 10
        );
        println!(
            "memory tier holds {} MiB; disk write drops {drops}",
            tier >> 20
        );
    });
}
