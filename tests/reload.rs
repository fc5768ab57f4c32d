//! Hot reload: `POST /admin/reload` (and SIGHUP) re-read the config and
//! swap it in atomically. Requests in flight finish with the config they
//! started with, no connection is dropped, the cache and the counters stay,
//! an invalid config is refused with the field named, and settings that
//! cannot change live are reported as needing a restart.

use crate::support;

use edgecache::config::{Config, TokenConfig};
use std::sync::Arc;
use support::{Origin, TestNode, admin, get, metrics, reply, test_config};

const TOKEN: &str = "reload-test-token-0123456789abcdef";

fn with_token(mut cfg: Config) -> Config {
    cfg.admin.tokens = vec![TokenConfig {
        token: TOKEN.into(),
        hosts: vec!["*".into()],
    }];
    cfg
}

async fn reload(node: &TestNode) -> (u16, serde_json::Value) {
    admin(node.admin_addr, "/admin/reload", Some(TOKEN), &[], "").await
}

async fn two_origins() -> (Origin, Origin) {
    let a = Origin::start(|req| {
        let cc = if req.path.starts_with("/cached") {
            "max-age=600"
        } else {
            "no-store"
        };
        reply(200, &[("cache-control", cc)], "a")
    })
    .await;
    let b = Origin::start(|_| reply(200, &[("cache-control", "no-store")], "b")).await;
    (a, b)
}

#[tokio::test]
async fn a_reload_switches_origins_and_keeps_the_cache_and_the_counters() {
    let (a, b) = two_origins().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, shared) =
        TestNode::start_reloadable(with_token(test_config(&a.url(), dir.path()))).await;
    assert_eq!(get(&node.url("/cached")).await.text(), "a");
    assert_eq!(get(&node.url("/live")).await.text(), "a");

    shared.lock().origin = Some(b.url());
    let (status, body) = reload(&node).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reloaded"], true);
    assert_eq!(body["restart_needed"], serde_json::json!([]));

    assert_eq!(get(&node.url("/live")).await.text(), "b", "new origin");
    let cached = get(&node.url("/cached")).await;
    assert_eq!(cached.text(), "a", "the stored object survived the reload");
    assert!(
        cached.cache_status().contains("hit"),
        "{}",
        cached.cache_status()
    );
    let m = metrics(node.admin_addr).await;
    assert!(
        m.contains(
            r#"edgecache_requests_total{site="default",protocol="http/1.1",status="2xx"} 4"#
        ),
        "counters carried across the reload:\n{m}"
    );
    node.stop().await;
}

#[tokio::test]
async fn an_invalid_config_is_refused_with_the_field_named_and_the_old_one_stays() {
    let (a, _b) = two_origins().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, shared) =
        TestNode::start_reloadable(with_token(test_config(&a.url(), dir.path()))).await;
    shared.lock().upstream.breaker_failures = 0;
    let (status, body) = reload(&node).await;
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().expect("error text");
    assert!(error.contains("upstream.breaker_failures"), "{error}");
    assert_eq!(get(&node.url("/live")).await.text(), "a");
    node.stop().await;
}

#[tokio::test]
async fn new_tokens_apply_and_a_bad_token_is_refused() {
    let (a, _b) = two_origins().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, shared) =
        TestNode::start_reloadable(with_token(test_config(&a.url(), dir.path()))).await;
    let (status, _) = admin(node.admin_addr, "/admin/reload", Some("wrong"), &[], "").await;
    assert_eq!(status, 401);

    let second = "second-token-0123456789abcdefghij";
    shared.lock().admin.tokens.push(TokenConfig {
        token: second.into(),
        hosts: vec!["*".into()],
    });
    assert_eq!(reload(&node).await.0, 200);
    // The admin router was rebuilt with the new token list.
    let (status, body) = admin(
        node.admin_addr,
        "/purge/all",
        Some(second),
        &[],
        r#"{"host":"localhost"}"#,
    )
    .await;
    assert!(status < 300, "{status} {body}");
    node.stop().await;
}

#[tokio::test]
async fn listener_and_store_changes_are_reported_as_needing_a_restart() {
    let (a, _b) = two_origins().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, shared) =
        TestNode::start_reloadable(with_token(test_config(&a.url(), dir.path()))).await;
    {
        let mut c = shared.lock();
        c.server.listen = "127.0.0.1:1".parse().expect("addr");
        c.storage.memory_bytes *= 2;
        c.cache.heuristic_fraction = 0.05;
    }
    let (status, body) = reload(&node).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["restart_needed"],
        serde_json::json!(["server.listen", "storage.memory_bytes"])
    );
    // Still served where it was.
    assert_eq!(get(&node.url("/live")).await.status, 200);
    node.stop().await;
}

/// Two clients run keep-alive requests while the config is reloaded 50
/// times, alternating between two origins: every request succeeds, and
/// the keep-alive connections are never dropped. Each client is one raw
/// socket that never reconnects (a pooled client would reconnect silently
/// and hide a dropped connection), so a closed connection fails the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_reloads_under_keep_alive_load_fail_no_request() {
    use support::raw_client::KeepAlive;
    let (a, b) = two_origins().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, shared) =
        TestNode::start_reloadable(with_token(test_config(&a.url(), dir.path()))).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..2 {
        let (stop, addr, path) = (stop.clone(), node.addr, format!("/load{c}"));
        clients.push(tokio::spawn(async move {
            let mut conn = KeepAlive::connect(addr).await;
            let (mut ok, mut bodies) = (0u32, std::collections::BTreeSet::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let resp = conn
                    .get(&path, std::time::Duration::from_secs(10))
                    .await
                    .map_err(|e| format!("client {c}, request {}: {e}", ok + 1))?;
                if resp.status != 200 || !(resp.body == b"a" || resp.body == b"b") {
                    return Err(format!(
                        "client {c}, request {}: {} {:?}",
                        ok + 1,
                        resp.status,
                        String::from_utf8_lossy(&resp.body)
                    ));
                }
                if resp.header("connection") == Some("close") {
                    return Err(format!("client {c}: the node announced a close"));
                }
                bodies.insert(resp.body);
                ok += 1;
            }
            Ok::<_, String>((ok, bodies))
        }));
    }
    for i in 0..50 {
        shared.lock().origin = Some(if i % 2 == 0 { b.url() } else { a.url() });
        let (status, body) = reload(&node).await;
        assert_eq!(status, 200, "reload {i}: {body}");
        // Spacing between reloads, so that requests run under each config.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        let (ok, bodies) = c
            .await
            .expect("client task")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bodies.len(), 2, "each connection saw both origins");
        total += ok;
    }
    assert!(total >= 50, "only {total} requests ran during the reloads");
    // Both origins served some of them.
    assert!(!a.seen().is_empty() && !b.seen().is_empty());
    node.stop().await;
}

/// The binary: SIGHUP re-reads the config file (and re-applies the
/// command-line overrides).
#[tokio::test]
async fn sighup_rereads_the_config_file() {
    let (a, b) = two_origins().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("edgecache.toml");
    let write = |origin: &str| {
        std::fs::write(
            &file,
            format!("origin = \"{origin}\"\n[storage]\nmemory_bytes = 16777216\ndisk_bytes = 67108864\nblock_bytes = 4194304\nmax_object_bytes = 8388608\n"),
        )
        .expect("write config");
    };
    write(&a.url());
    let data = dir.path().join("data");
    let file_arg = file.to_str().expect("utf-8 path");
    let mut proc = support::process::spawn(&["--config", file_arg], &data);
    assert_eq!(get(&proc.url("/x")).await.text(), "a");
    write(&b.url());
    proc.signal("-HUP");
    let mut served = String::new();
    for _ in 0..100 {
        served = get(&proc.url("/x")).await.text();
        if served == "b" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(served, "b", "log:\n{}", proc.log.lock());
    // A broken file is refused; the node keeps serving with the last good one.
    std::fs::write(&file, "origin = 12\n").expect("write config");
    proc.signal("-HUP");
    for _ in 0..100 {
        if proc.log.lock().contains("reload refused") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        proc.log.lock().contains("reload refused"),
        "log:\n{}",
        proc.log.lock()
    );
    assert_eq!(get(&proc.url("/x")).await.text(), "b");
    proc.signal("-TERM");
    assert!(proc.wait(30).success());
}
