//! The access log: one line per request, written off the request path,
//! to a file that logrotate can move (SIGUSR1 / SIGHUP reopen it), in JSON
//! or the combined format, per site on or off, sampled; a stalled writer
//! drops and counts lines and never holds a request up.

use crate::support;

use edgecache::config::{LogFormat, SiteConfig};
use std::path::Path;
use support::{
    Origin, TestNode, get, metrics, reply, send, test_config, wait_until, wait_until_async,
};

/// Wait until `path` holds at least `n` lines (fail after 10 s); return them.
async fn lines(path: &Path, n: usize) -> Vec<String> {
    let read = || -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    wait_until(
        &format!("{n} lines in {}", path.display()),
        std::time::Duration::from_secs(10),
        || read().len() >= n,
    )
    .await;
    read()
}

async fn origin() -> Origin {
    Origin::start(|req| match req.path.split('?').next().unwrap_or("") {
        "/cached" => reply(200, &[("cache-control", "max-age=600")], "cached body"),
        "/fail" => reply(503, &[("cache-control", "no-store")], "down"),
        _ => reply(200, &[("cache-control", "no-store")], "pass"),
    })
    .await
}

#[tokio::test]
async fn json_lines_carry_the_request_the_response_and_the_cache_outcome() {
    let origin = origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.access_log.enabled = true;
    cfg.access_log.path = Some(log.clone());
    let node = TestNode::start(cfg).await;
    get(&node.url("/cached?q=1")).await;
    send(
        "GET",
        &node.url("/cached?q=1"),
        &[("user-agent", "probe/1 \"quoted\"")],
    )
    .await;
    let got = lines(&log, 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let miss: serde_json::Value = serde_json::from_str(&got[0]).expect("JSON");
    let hit: serde_json::Value = serde_json::from_str(&got[1]).expect("JSON");
    assert_eq!(miss["method"], "GET");
    assert_eq!(miss["target"], "/cached?q=1");
    assert_eq!(miss["status"], 200);
    assert_eq!(miss["bytes_out"], 11);
    assert_eq!(miss["site"], "default");
    assert_eq!(miss["protocol"], "http/1.1");
    assert_eq!(miss["client"], "127.0.0.1");
    assert!(
        miss["host"]
            .as_str()
            .is_some_and(|h| h.starts_with("127.0.0.1:")),
        "{miss}"
    );
    assert!(
        miss["cache_status"]
            .as_str()
            .is_some_and(|c| c.contains("fwd=uri-miss")),
        "{miss}"
    );
    assert!(
        miss["origin_ms"].as_f64().is_some(),
        "a miss asked the origin: {miss}"
    );
    assert!(
        miss["duration_ms"].as_f64() >= miss["ttfb_ms"].as_f64(),
        "{miss}"
    );
    assert!(
        hit["cache_status"]
            .as_str()
            .is_some_and(|c| c.contains("hit")),
        "{hit}"
    );
    assert!(hit["origin_ms"].is_null(), "a hit did not: {hit}");
    assert_eq!(hit["user_agent"], "probe/1 \"quoted\"");
    assert_eq!(hit["aborted"], false);
    node.stop().await;
}

#[tokio::test]
async fn combined_format_per_site_switches_and_sampling() {
    let origin = origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.access_log.enabled = true;
    cfg.access_log.path = Some(log.clone());
    cfg.access_log.format = LogFormat::Combined;
    cfg.sites = vec![
        SiteConfig {
            hosts: vec!["quiet.test".into()],
            origin: origin.url(),
            access_log: Some(false),
            ..Default::default()
        },
        SiteConfig {
            name: Some("sampled".into()),
            hosts: vec!["sampled.test".into()],
            origin: origin.url(),
            access_log_sample: Some(0.0),
            ..Default::default()
        },
    ];
    let node = TestNode::start(cfg).await;
    for _ in 0..5 {
        send("GET", &node.url("/q"), &[("host", "quiet.test")]).await;
        send("GET", &node.url("/s"), &[("host", "sampled.test")]).await;
    }
    // Errors are logged whatever the sampling.
    assert_eq!(
        send("GET", &node.url("/fail"), &[("host", "sampled.test")])
            .await
            .status,
        503
    );
    send("GET", &node.url("/d"), &[("referer", "http://r.test/")]).await;
    lines(&log, 2).await;
    // A later logged request as a barrier: lines are written in order, so
    // once its line is there, any line the requests above were going to
    // write is there too.
    send("GET", &node.url("/barrier"), &[]).await;
    let mut got = lines(&log, 3).await;
    assert!(
        got.last().is_some_and(|l| l.contains("GET /barrier")),
        "{got:?}"
    );
    got.pop();
    assert_eq!(
        got.len(),
        2,
        "only the 503 and the default site's request: {got:?}"
    );
    assert!(
        got[0].starts_with("127.0.0.1 - - [")
            && got[0].contains("] \"GET /fail HTTP/1.1\" 503 4 \"\" \"\" \""),
        "{}",
        got[0]
    );
    assert!(got[0].ends_with(" \"sampled\""), "{}", got[0]);
    assert!(
        got[1].contains("\"GET /d HTTP/1.1\" 200 4 \"http://r.test/\""),
        "{}",
        got[1]
    );
    node.stop().await;
}

/// logrotate moves the file and signals; the node writes to a new file.
#[tokio::test]
async fn sigusr1_reopens_the_file_after_logrotate_moved_it() {
    let origin = origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let file = dir.path().join("edgecache.toml");
    std::fs::write(
        &file,
        format!(
            "origin = \"{}\"\n[access_log]\nenabled = true\npath = \"{}\"\n[storage]\nmemory_bytes = 16777216\ndisk_bytes = 67108864\nblock_bytes = 4194304\nmax_object_bytes = 8388608\n",
            origin.url(),
            log.display()
        ),
    )
    .expect("config");
    let data = dir.path().join("data");
    let mut proc = support::process::spawn(&["--config", file.to_str().expect("path")], &data);
    get(&proc.url("/before")).await;
    assert_eq!(lines(&log, 1).await.len(), 1);
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    proc.signal("-USR1");
    // The reopen happens before the next line is written; keep asking
    // until the new file appears.
    let mut fresh = Vec::new();
    for i in 0..100 {
        get(&proc.url(&format!("/after{i}"))).await;
        fresh = lines(&log, 0).await;
        if !fresh.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!fresh.is_empty(), "no new file; log:\n{}", proc.log.lock());
    assert!(fresh.iter().all(|l| l.contains("/after")), "{fresh:?}");
    let old = std::fs::read_to_string(&rotated).expect("rotated file");
    assert!(old.contains("/before"), "{old}");
    proc.signal("-TERM");
    assert!(proc.wait(30).success());
}

/// A writer that cannot write (its file is a FIFO nobody reads: opening
/// it blocks) never holds a request up: lines past the queue are dropped
/// and counted.
#[tokio::test]
async fn a_stalled_writer_drops_and_counts_lines_and_blocks_no_request() {
    let origin = origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("stuck.log");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.access_log.enabled = true;
    cfg.access_log.path = Some(fifo);
    cfg.access_log.queue_lines = 10;
    let node = TestNode::start(cfg).await;
    for i in 0..100 {
        let got = get(&node.url(&format!("/r{i}"))).await;
        assert_eq!(got.status, 200);
    }
    let mut dropped = 0.0;
    wait_until_async(
        "at least 89 dropped access-log lines",
        std::time::Duration::from_secs(10),
        async || {
            dropped = metrics(node.admin_addr)
                .await
                .lines()
                .find_map(|l| l.strip_prefix("edgecache_access_log_dropped_total "))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            dropped >= 89.0
        },
    )
    .await;
    // 100 lines, at most 10 queued and 1 held by the stuck writer.
    assert!(dropped >= 89.0, "dropped {dropped}");
    // Unblock the writer so the test's tempdir can go.
    let _ = std::fs::File::open(dir.path().join("stuck.log"));
    node.stop().await;
}

/// The log line names the request's trace, so a log line leads to its spans.
#[tokio::test]
async fn the_line_carries_the_trace_id() {
    let origin = origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.access_log.enabled = true;
    cfg.access_log.path = Some(log.clone());
    cfg.tracing.enabled = true;
    cfg.tracing.sample_ratio = 1.0;
    cfg.tracing.trust_incoming = edgecache::config::TrustIncoming::Always;
    // No collector: spans are dropped and counted; the log is unaffected.
    // A collector address that refuses (not an assumed-closed port 9).
    let refusing = support::Reserved::new();
    cfg.tracing.endpoint = Some(refusing.url());
    let node = TestNode::start(cfg).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("00-{trace}-00f067aa0ba902b7-01");
    send("GET", &node.url("/t"), &[("traceparent", parent.as_str())]).await;
    let got = lines(&log, 1).await;
    let line: serde_json::Value = serde_json::from_str(&got[0]).expect("JSON");
    assert_eq!(line["trace_id"], trace, "{line}");
    node.stop().await;
}
