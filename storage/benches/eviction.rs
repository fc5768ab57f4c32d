//! Byte hit ratio of foyer's memory-tier eviction policies on Zipf traces.
//!
//! `cargo bench -p storage --bench eviction` replays, for Zipf s = 0.8 and
//! 1.0, a trace of 1M requests over 100k objects whose sizes follow a
//! log-normal distribution (median 16 KiB, clipped to 256 B .. 4 MiB; sizes
//! are independent of popularity) against foyer's in-memory cache with each
//! eviction policy, at capacities of 1%, 5% and 20% of the working set's
//! bytes, and prints a markdown table. The first 100k requests warm the cache
//! and are not counted. Deterministic: a fixed-seed generator drives it.
//! `EVICTION_REQUESTS` and `EVICTION_OBJECTS` change the trace size.

use foyer::{
    CacheBuilder, EvictionConfig, FifoConfig, LfuConfig, LruConfig, S3FifoConfig, SieveConfig,
};

/// splitmix64: small, fast and good enough for a trace generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

struct Trace {
    sizes: Vec<u32>,
    requests: Vec<u32>,
}

fn trace(objects: usize, requests: usize, s: f64, seed: u64) -> Trace {
    let mut rng = Rng(seed);
    let median = 16_384f64;
    let sizes: Vec<u32> = (0..objects)
        .map(|_| (median * (1.5 * rng.normal()).exp()).clamp(256.0, 4_194_304.0) as u32)
        .collect();
    // Popularity rank -> object id, shuffled so size and rank are independent.
    let mut ids: Vec<u32> = (0..objects as u32).collect();
    for i in (1..ids.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        ids.swap(i, j);
    }
    let mut cdf = Vec::with_capacity(objects);
    let mut acc = 0.0;
    for k in 1..=objects {
        acc += 1.0 / (k as f64).powf(s);
        cdf.push(acc);
    }
    let total = acc;
    let requests = (0..requests)
        .map(|_| {
            let x = rng.unit() * total;
            let rank = cdf.partition_point(|&c| c < x).min(objects - 1);
            ids[rank]
        })
        .collect();
    Trace { sizes, requests }
}

/// (byte hit ratio, object hit ratio) after `warmup` requests.
fn replay(t: &Trace, capacity: usize, eviction: EvictionConfig, warmup: usize) -> (f64, f64) {
    // The node's memory tier uses foyer's default sharding; so does this.
    let cache = CacheBuilder::new(capacity)
        .with_weighter(|_k: &u32, v: &u32| *v as usize)
        .with_eviction_config(eviction)
        .build::<foyer::HybridCacheProperties>();
    let (mut hit_bytes, mut bytes, mut hits, mut n) = (0u64, 0u64, 0u64, 0u64);
    for (i, &id) in t.requests.iter().enumerate() {
        let size = t.sizes[id as usize];
        let hit = cache.get(&id).is_some();
        if !hit {
            cache.insert(id, size);
        }
        if i >= warmup {
            n += 1;
            bytes += u64::from(size);
            if hit {
                hits += 1;
                hit_bytes += u64::from(size);
            }
        }
    }
    (hit_bytes as f64 / bytes as f64, hits as f64 / n as f64)
}

fn policies() -> Vec<(&'static str, EvictionConfig)> {
    vec![
        ("lru", LruConfig::default().into()),
        ("s3fifo", S3FifoConfig::default().into()),
        ("lfu (w-tinylfu)", LfuConfig::default().into()),
        ("sieve", SieveConfig.into()),
        ("fifo", FifoConfig::default().into()),
    ]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not run this.
    let objects = env("EVICTION_OBJECTS", 100_000);
    let requests = env("EVICTION_REQUESTS", 1_000_000);
    let warmup = requests / 10;
    println!(
        "Byte hit ratio (object hit ratio), {requests} requests over {objects} objects, first {warmup} not counted\n"
    );
    println!("| zipf s | cache size | policy | byte hit ratio | object hit ratio |");
    println!("|---|---|---|---|---|");
    for s in [0.8, 1.0] {
        let t = trace(objects, requests, s, 0x5eed_0000 + (s * 10.0) as u64);
        let working_set: u64 = t.sizes.iter().map(|&x| u64::from(x)).sum();
        for pct in [1u64, 5, 20] {
            let capacity = (working_set * pct / 100) as usize;
            for (name, cfg) in policies() {
                let (bhr, ohr) = replay(&t, capacity, cfg, warmup);
                println!(
                    "| {s} | {pct}% ({} MiB) | {name} | {:.1}% | {:.1}% |",
                    capacity >> 20,
                    bhr * 100.0,
                    ohr * 100.0
                );
            }
        }
    }
}
