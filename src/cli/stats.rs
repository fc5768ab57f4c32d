//! `edgecache stats`: a few human lines from the admin listener's
//! `/metrics` — requests, hit ratio, bytes served by source, origin first
//! byte time and the busiest sites. Reads the labelled families
//! (`edgecache_requests_total{site,protocol,status}`,
//! `edgecache_cache_results_total{site,outcome,reason}`,
//! `edgecache_response_body_bytes_total{site,source}` (or
//! `edgecache_response_bytes_total`), `edgecache_origin_first_byte_seconds`)
//! and falls back to the store's unlabelled counters on nodes that export
//! only those.

use super::admin_client::{AdminArgs, AdminClient};
use super::error::CliError;
use super::prom_text::Exposition;
use std::fmt::Write;
use std::path::Path;

/// `edgecache stats` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct StatsArgs {
    /// Print the raw /metrics text instead of the summary.
    #[arg(long)]
    pub raw: bool,
    /// How many sites to list by requests.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub top: usize,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Fetch /metrics and print the summary.
pub async fn run(args: &StatsArgs, config: Option<&Path>) -> Result<(), CliError> {
    let client = AdminClient::new(&args.admin, config)?;
    let answer = client.get("/metrics").await?.check("stats")?;
    if args.raw {
        println!("{}", answer.text());
        return Ok(());
    }
    print!("{}", summary(&Exposition::parse(&answer.text()), args.top));
    Ok(())
}

const REQUESTS: &str = "edgecache_requests_total";
const RESULTS: &str = "edgecache_cache_results_total";
/// Bytes by source, under either name.
const BYTES: [&str; 2] = [
    "edgecache_response_body_bytes_total",
    "edgecache_response_bytes_total",
];
const FIRST_BYTE: &str = "edgecache_origin_first_byte_seconds";
/// Outcomes in display order; any other outcome follows them.
const OUTCOMES: [&str; 6] = ["hit", "stale", "revalidated", "miss", "pass", "error"];
/// Outcomes answered with a body from the cache.
const FROM_CACHE: [&str; 3] = ["hit", "stale", "revalidated"];
const SOURCES: [&str; 4] = ["memory", "disk", "origin", "generated"];

/// The summary text, one line per topic, for whatever families `e` has.
pub fn summary(e: &Exposition, top: usize) -> String {
    let mut out = String::new();
    requests_line(e, &mut out);
    hit_ratio_line(e, &mut out);
    bytes_line(e, &mut out);
    if let (Some(sum), Some(count)) = (
        e.sum(&format!("{FIRST_BYTE}_sum")),
        e.sum(&format!("{FIRST_BYTE}_count")),
    ) && count > 0.0
    {
        let _ = writeln!(
            out,
            "origin 1st byte  mean {:.1} ms over {} fetches",
            sum / count * 1000.0,
            count
        );
    }
    if let Some(seq) = e.sum("edgecache_purge_sequence") {
        let _ = writeln!(out, "purges           {seq} recorded");
    }
    top_sites_line(e, top, &mut out);
    if e.malformed > 0 {
        let _ = writeln!(out, "({} unreadable /metrics lines skipped)", e.malformed);
    }
    out
}

fn requests_line(e: &Exposition, out: &mut String) {
    let Some(total) = e.sum(REQUESTS) else {
        let _ = writeln!(
            out,
            "requests         not exported by this node ({REQUESTS})"
        );
        return;
    };
    let mut classes = e.by_label(REQUESTS, "status");
    classes.sort_by(|a, b| a.0.cmp(&b.0));
    let classes: Vec<String> = classes
        .into_iter()
        .filter(|(_, n)| *n > 0.0)
        .map(|(class, n)| format!("{} {n}", if class.is_empty() { "?" } else { &class }))
        .collect();
    let _ = writeln!(out, "requests         {total}  ({})", classes.join(", "));
}

fn hit_ratio_line(e: &Exposition, out: &mut String) {
    if e.sum(RESULTS).is_some() {
        let mut by = e.by_label(RESULTS, "outcome");
        let rank = |o: &str| {
            OUTCOMES
                .iter()
                .position(|k| *k == o)
                .unwrap_or(OUTCOMES.len())
        };
        by.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.0.cmp(&b.0)));
        let all: f64 = by.iter().map(|(_, n)| n).sum();
        let cached: f64 = by
            .iter()
            .filter(|(o, _)| FROM_CACHE.contains(&o.as_str()))
            .map(|(_, n)| n)
            .sum();
        let parts: Vec<String> = by.iter().map(|(o, n)| format!("{o} {n}")).collect();
        let _ = writeln!(
            out,
            "hit ratio        {}  ({}; hit+stale+revalidated of all)",
            percent(cached, all),
            parts.join(", ")
        );
        return;
    }
    // Nodes without the labelled families: the store's lookups.
    let memory = e.sum("edgecache_store_memory_hits_total");
    let disk = e.sum("edgecache_store_disk_hits_total");
    let misses = e.sum("edgecache_store_misses_total");
    if memory.is_none() && disk.is_none() && misses.is_none() {
        let _ = writeln!(
            out,
            "hit ratio        not exported by this node ({RESULTS})"
        );
        return;
    }
    let (memory, disk, misses) = (
        memory.unwrap_or(0.0),
        disk.unwrap_or(0.0),
        misses.unwrap_or(0.0),
    );
    let _ = writeln!(
        out,
        "hit ratio        {}  (store lookups: memory hits {memory}, disk hits {disk}, misses {misses})",
        percent(memory + disk, memory + disk + misses)
    );
}

fn bytes_line(e: &Exposition, out: &mut String) {
    let Some((name, total)) = BYTES.iter().find_map(|n| Some((*n, e.sum(n)?))) else {
        return;
    };
    let by = e.by_label(name, "source");
    let count = |s: &str| {
        by.iter()
            .find(|(k, _)| k == s)
            .map(|(_, n)| *n)
            .unwrap_or(0.0)
    };
    let parts: Vec<String> = SOURCES
        .iter()
        .map(|s| format!("{s} {}", bytes(count(s))))
        .collect();
    let _ = writeln!(
        out,
        "bytes served     {}  ({}; byte hit ratio {})",
        bytes(total),
        parts.join(", "),
        percent(count("memory") + count("disk"), total)
    );
}

fn top_sites_line(e: &Exposition, top: usize, out: &mut String) {
    let family = if e.sum(REQUESTS).is_some() {
        REQUESTS
    } else {
        RESULTS
    };
    let mut sites: Vec<(String, f64)> = e
        .by_label(family, "site")
        .into_iter()
        .filter(|(site, n)| !site.is_empty() && *n > 0.0)
        .collect();
    if sites.is_empty() || top == 0 {
        return;
    }
    sites.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let listed: Vec<String> = sites
        .iter()
        .take(top)
        .map(|(site, n)| format!("{site} {n}"))
        .collect();
    let _ = writeln!(out, "top sites        {}", listed.join(", "));
}

fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1}%", part / whole * 100.0)
    } else {
        "n/a (nothing counted yet)".to_string()
    }
}

fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_the_labelled_families() {
        let text = r#"# TYPE edgecache_requests counter
edgecache_requests_total{site="shop.test",protocol="h2",status="5xx"} 2
edgecache_requests_total{site="shop.test",protocol="h1",status="2xx"} 90
edgecache_requests_total{site="blog.test",protocol="h1",status="2xx"} 8
edgecache_cache_results_total{site="shop.test",outcome="hit",reason=""} 70
edgecache_cache_results_total{site="shop.test",outcome="stale",reason="swr"} 5
edgecache_cache_results_total{site="shop.test",outcome="miss",reason="uri-miss"} 20
edgecache_cache_results_total{site="blog.test",outcome="pass",reason="method"} 5
edgecache_response_body_bytes_total{site="shop.test",source="memory"} 2097152
edgecache_response_body_bytes_total{site="shop.test",source="disk"} 1048576
edgecache_response_body_bytes_total{site="shop.test",source="origin"} 1048576
edgecache_origin_first_byte_seconds_bucket{site="shop.test",le="+Inf"} 20
edgecache_origin_first_byte_seconds_sum{site="shop.test"} 0.5
edgecache_origin_first_byte_seconds_count{site="shop.test"} 20
# EOF
"#;
        let s = summary(&Exposition::parse(text), 5);
        assert!(s.contains("requests         100  (2xx 98, 5xx 2)"), "{s}");
        assert!(
            s.contains("hit ratio        75.0%  (hit 70, stale 5, miss 20, pass 5; hit+stale+revalidated of all)"),
            "{s}"
        );
        assert!(
            s.contains("bytes served     4.0 MiB  (memory 2.0 MiB, disk 1.0 MiB, origin 1.0 MiB, generated 0 B; byte hit ratio 75.0%)"),
            "{s}"
        );
        assert!(s.contains("mean 25.0 ms over 20 fetches"), "{s}");
        assert!(
            s.contains("top sites        shop.test 92, blog.test 8"),
            "{s}"
        );
    }

    #[test]
    fn counts_revalidated_as_served_from_cache_and_keeps_unknown_outcomes() {
        let text = "edgecache_cache_results_total{site=\"a\",outcome=\"miss\",reason=\"\"} 2\n\
                    edgecache_cache_results_total{site=\"a\",outcome=\"collapsed\",reason=\"\"} 1\n\
                    edgecache_cache_results_total{site=\"a\",outcome=\"revalidated\",reason=\"\"} 1\n\
                    edgecache_response_bytes_total{site=\"a\",source=\"generated\"} 10\n";
        let s = summary(&Exposition::parse(text), 5);
        assert!(
            s.contains("hit ratio        25.0%  (revalidated 1, miss 2, collapsed 1;"),
            "{s}"
        );
        assert!(
            s.contains("bytes served     10 B  (memory 0 B, disk 0 B, origin 0 B, generated 10 B; byte hit ratio 0.0%)"),
            "{s}"
        );
    }

    #[test]
    fn falls_back_to_the_store_counters() {
        let text = "# HELP edgecache_store_memory_hits_total x\n\
                    edgecache_store_memory_hits_total 2\n\
                    edgecache_store_disk_hits_total 1\n\
                    edgecache_store_misses_total 1\n\
                    edgecache_purge_sequence 4\n";
        let s = summary(&Exposition::parse(text), 5);
        assert!(
            s.contains(
                "hit ratio        75.0%  (store lookups: memory hits 2, disk hits 1, misses 1)"
            ),
            "{s}"
        );
        assert!(s.contains("requests         not exported"), "{s}");
        assert!(s.contains("purges           4 recorded"), "{s}");
        assert!(!s.contains("top sites"), "{s}");
    }

    #[test]
    fn says_when_nothing_is_counted_yet() {
        let s = summary(&Exposition::parse("edgecache_store_misses_total 0\n"), 5);
        assert!(
            s.contains("hit ratio        n/a (nothing counted yet)"),
            "{s}"
        );
        let s = summary(&Exposition::parse(""), 5);
        assert!(s.contains("hit ratio        not exported"), "{s}");
    }
}
