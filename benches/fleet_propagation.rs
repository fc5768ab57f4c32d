//! Purge propagation across a running fleet (benches/load/fleet.sh starts
//! one with scripts/cluster.sh): purges sent open-loop at a fixed rate to one
//! node's purge API with `?wait=fleet`, each answered once every live node
//! has applied it. Prints, per rate, the client-observed time (local commit,
//! publish, apply on every node, acknowledgement) and the node's own
//! `waited_ms` (from the local commit to the last acknowledgement).
//!
//! usage: cargo bench --bench fleet_propagation -- ADMIN_ADDR TOKEN RATE:COUNT...
//! e.g.   cargo bench --bench fleet_propagation -- 127.0.0.1:18091 cluster-token-0123456789 1:30 1000:5000
#![allow(missing_docs)]

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

struct Sample {
    total_ms: f64,
    waited_ms: f64,
    complete: bool,
    ok: bool,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[allow(clippy::disallowed_methods)]
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

async fn run(admin: &str, token: &str, rate: u64, count: u64) -> Vec<Sample> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build_http();
    let start = tokio::time::Instant::now();
    let every = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tasks = Vec::with_capacity(count as usize);
    for i in 0..count {
        tokio::time::sleep_until(start + every * i as u32).await;
        let client = client.clone();
        let uri = format!("http://{admin}/purge/key/bench-{rate}-{i}?wait=fleet&timeout_ms=10000");
        let auth = format!("Bearer {token}");
        tasks.push(tokio::spawn(async move {
            let t0 = now();
            let req = hyper::Request::post(uri)
                .header("authorization", auth)
                .body(Empty::new())
                .expect("request");
            let Ok(resp) = client.request(req).await else {
                return Sample {
                    total_ms: 0.0,
                    waited_ms: 0.0,
                    complete: false,
                    ok: false,
                };
            };
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let total_ms = t0.elapsed().as_secs_f64() * 1000.0;
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            Sample {
                total_ms,
                waited_ms: v["fleet"]["waited_ms"].as_f64().unwrap_or(f64::NAN),
                complete: v["fleet"]["complete"] == true,
                ok: status.is_success(),
            }
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(s) = t.await {
            out.push(s);
        }
    }
    out
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.len() < 3 {
        eprintln!("usage: fleet_propagation ADMIN_ADDR TOKEN RATE:COUNT...");
        std::process::exit(2);
    }
    let (admin, token) = (&args[0], &args[1]);
    println!(
        "| rate (purges/s) | purges | complete | client p50 ms | client p99 ms | fleet wait p50 ms | fleet wait p99 ms | max ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for spec in &args[2..] {
        let (rate, count) = spec
            .split_once(':')
            .and_then(|(r, c)| Some((r.parse::<u64>().ok()?, c.parse::<u64>().ok()?)))
            .unwrap_or_else(|| panic!("`{spec}`: expected RATE:COUNT"));
        let wall = now();
        let samples = run(admin, token, rate, count).await;
        let secs = wall.elapsed().as_secs_f64();
        let ok = samples.iter().filter(|s| s.ok).count();
        let complete = samples.iter().filter(|s| s.complete).count();
        let mut total: Vec<f64> = samples
            .iter()
            .filter(|s| s.ok)
            .map(|s| s.total_ms)
            .collect();
        let mut waited: Vec<f64> = samples
            .iter()
            .filter(|s| s.ok && !s.waited_ms.is_nan())
            .map(|s| s.waited_ms)
            .collect();
        total.sort_by(f64::total_cmp);
        waited.sort_by(f64::total_cmp);
        println!(
            "| {rate} | {count} ({ok} ok, {:.0}/s achieved) | {complete} | {:.1} | {:.1} | {:.0} | {:.0} | {:.1} |",
            count as f64 / secs,
            pct(&total, 0.5),
            pct(&total, 0.99),
            pct(&waited, 0.5),
            pct(&waited, 0.99),
            total.last().copied().unwrap_or(f64::NAN),
        );
    }
}
