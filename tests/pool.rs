//! Origin pools: balancing over servers, circuit breakers that open and
//! close, retries to another server, and active health checks.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use support::{Origin, Reserved, TestNode, get, reply, test_config, wait_until, wait_until_async};

#[tokio::test]
async fn a_dead_server_is_retried_around_then_skipped() {
    let live = Origin::start(|_| reply(200, &[("cache-control", "no-store")], "live")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // A port held for the test that refuses every connection.
    let dead = Reserved::new();
    let mut cfg = test_config(&format!("{}, {}", dead.url(), live.url()), dir.path());
    cfg.upstream.balance = edgecache::config::Balance::RoundRobin;
    cfg.upstream.breaker_failures = 2;
    cfg.upstream.retry_budget_percent = 100;
    let node = TestNode::start(cfg).await;
    for i in 0..10 {
        let got = get(&node.url(&format!("/r{i}"))).await;
        assert_eq!(
            (got.status, got.text().as_str()),
            (200, "live"),
            "request {i}: {}",
            got.cache_status()
        );
    }
    assert_eq!(live.seen().len(), 10);
    node.stop().await;
}

/// An origin that is unreachable (not listening: connections are refused)
/// until `up` says true, and answers 200 from then on. Its port is held for
/// the test (refusing) until then, so no other test's listener can take it.
/// Returns its URL, the number of connections it has accepted, and the
/// port's holder (keep it alive).
async fn flaky_origin(
    mut up: tokio::sync::watch::Receiver<bool>,
) -> (String, Arc<std::sync::atomic::AtomicUsize>, Arc<Reserved>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = Arc::new(Reserved::new());
    let url = port.url();
    let conns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (counted, held) = (conns.clone(), port.clone());
    tokio::spawn(async move {
        if up.wait_for(|up| *up).await.is_err() {
            return;
        }
        let listener = held.listen().await;
        while let Ok((mut s, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => seen.extend_from_slice(&buf[..k]),
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nback")
                    .await;
                let _ = s.shutdown().await;
            });
        }
    });
    (url, conns, port)
}

/// A lone server that accepts connections but closes them unanswered (as
/// the cache-tests origin does on purpose) is reachable: like a 5xx, that
/// never opens its breaker, so the next request is still sent.
#[tokio::test]
async fn a_single_server_closing_connections_keeps_being_asked() {
    let (url, heads) = support::raw_origin::start(|n| {
        (n % 2 == 1).then(|| {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok".to_vec()
        })
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&url, dir.path());
    cfg.upstream.breaker_failures = 1;
    cfg.upstream.retries = 0;
    let node = TestNode::start(cfg).await;
    for i in 0..6 {
        let got = get(&node.url(&format!("/c{i}"))).await;
        assert!(
            !got.cache_status().contains("origin-circuit-open"),
            "request {i}: {}",
            got.cache_status()
        );
    }
    assert!(heads.load(Ordering::SeqCst) >= 6);
    node.stop().await;
}

#[tokio::test]
async fn breaker_opens_on_failures_and_closes_after_a_good_probe() {
    let (up, down) = tokio::sync::watch::channel(false);
    let (url, conns, _port) = flaky_origin(down).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&url, dir.path());
    cfg.upstream.breaker_failures = 3;
    cfg.upstream.breaker_cooldown_secs = 1;
    cfg.upstream.retries = 0;
    let node = TestNode::start(cfg).await;
    for _ in 0..3 {
        assert_eq!(
            get(&node.url("/b")).await.status,
            502,
            "dropped connections"
        );
    }
    let before = conns.load(Ordering::SeqCst);
    let refused = get(&node.url("/b")).await;
    assert_eq!(refused.status, 502);
    assert!(
        refused
            .cache_status()
            .contains("detail=origin-circuit-open"),
        "{:?}",
        refused.cache_status()
    );
    assert_eq!(
        conns.load(Ordering::SeqCst),
        before,
        "an open breaker sends nothing to the origin"
    );
    up.send(true).expect("origin task");
    // Refused (502, nothing sent) until the cooldown ends; then the probe
    // reaches the origin and succeeds.
    let mut probe = String::new();
    wait_until_async(
        "the probe after the cooldown to succeed",
        std::time::Duration::from_secs(10),
        async || {
            probe = get(&node.url("/b")).await.text();
            probe == "back"
        },
    )
    .await;
    assert_eq!(probe, "back", "the probe after the cooldown succeeds");
    assert_eq!(get(&node.url("/b")).await.text(), "back", "closed again");
    node.stop().await;
}

/// A lone server answering 5xx is still reachable: its answers pass through
/// and never open the breaker.
#[tokio::test]
async fn a_single_server_answering_5xx_keeps_being_asked() {
    let origin = Origin::start(|_| reply(503, &[("cache-control", "no-store")], "busy")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.upstream.breaker_failures = 2;
    let node = TestNode::start(cfg).await;
    for _ in 0..6 {
        assert_eq!(get(&node.url("/5")).await.status, 503);
    }
    assert_eq!(origin.seen().len(), 6);
    node.stop().await;
}

#[tokio::test]
async fn active_health_checks_take_a_sick_server_out() {
    let sick = Origin::start(|seen| {
        if seen.path == "/health" {
            reply(503, &[], "sick")
        } else {
            reply(200, &[("cache-control", "no-store")], "sick-server")
        }
    })
    .await;
    let well = Origin::start(|_| reply(200, &[("cache-control", "no-store")], "well-server")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&format!("{}, {}", sick.url(), well.url()), dir.path());
    cfg.upstream.balance = edgecache::config::Balance::RoundRobin;
    cfg.upstream.health_check_path = Some("/health".into());
    cfg.upstream.health_check_interval_secs = 1;
    cfg.upstream.breaker_cooldown_secs = 60;
    let node = TestNode::start(cfg).await;
    // A second check of each server has started only after the first one's
    // verdict was applied.
    wait_until(
        "a second health check of each server",
        std::time::Duration::from_secs(10),
        || sick.count("/health") > 1 && well.count("/health") > 1,
    )
    .await;
    for i in 0..6 {
        assert_eq!(
            get(&node.url(&format!("/h{i}"))).await.text(),
            "well-server",
            "request {i}"
        );
    }
    assert_eq!(
        sick.seen().iter().filter(|s| s.path != "/health").count(),
        0
    );
    node.stop().await;
}

#[tokio::test]
async fn sequential_requests_share_one_origin_connection() {
    let origin = Origin::start(|_| reply(200, &[("cache-control", "no-store")], "pass")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    // The node's start-up reachability check also opens (and drops) one.
    let mut after_first = 0;
    for i in 0..20 {
        let got = get(&node.url(&format!("/seq{i}"))).await;
        assert_eq!(
            (got.status, got.text().as_str()),
            (200, "pass"),
            "request {i}"
        );
        if i == 0 {
            after_first = origin.connections();
        }
    }
    assert_eq!(origin.seen().len(), 20);
    assert_eq!(
        origin.connections(),
        after_first,
        "each response body ended, so its connection went back to the pool"
    );
    node.stop().await;
}

/// The origin closes every connection after one response, without saying
/// so: a pooled connection it has closed is never used, so no request
/// fails, not even a POST (which is never retried) and with retries off.
#[tokio::test]
async fn an_origin_closing_idle_connections_fails_no_request() {
    let (url, heads) = support::raw_origin::start(|_| {
        Some(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok".to_vec())
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&url, dir.path());
    cfg.upstream.retries = 0;
    let node = TestNode::start(cfg).await;
    for i in 0..10 {
        for method in ["GET", "POST"] {
            let got = support::send(method, &node.url(&format!("/close{i}")), &[]).await;
            assert_eq!(
                (got.status, got.text().as_str()),
                (200, "ok"),
                "{method} {i}: {}",
                got.cache_status()
            );
        }
    }
    assert_eq!(heads.load(Ordering::SeqCst), 20);
    node.stop().await;
}

#[tokio::test]
async fn idle_limits_from_config_apply() {
    let origin = Origin::start(|_| reply(200, &[("cache-control", "no-store")], "pass")).await;
    for (max_idle, idle_secs, expect_new) in [(0, 90, 5), (256, 0, 5), (256, 90, 0)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = test_config(&origin.url(), dir.path());
        cfg.upstream.pool_max_idle_per_host = max_idle;
        cfg.upstream.pool_idle_timeout_secs = idle_secs;
        let start = origin.connections();
        let node = TestNode::start(cfg).await;
        assert_eq!(get(&node.url("/idle")).await.status, 200);
        // The start-up reachability check opens one connection of its own.
        wait_until(
            "the request's and the reachability check's connections",
            std::time::Duration::from_secs(10),
            || origin.connections() >= start + 2,
        )
        .await;
        let before = origin.connections();
        for _ in 0..5 {
            // Past a zero idle timeout however fast the machine is.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            assert_eq!(get(&node.url("/idle")).await.status, 200);
        }
        assert_eq!(
            origin.connections() - before,
            expect_new,
            "max_idle {max_idle}, idle timeout {idle_secs} s"
        );
        node.stop().await;
    }
}

/// An origin that answers an upload before reading it (413) and keeps the
/// connection open: that connection stays busy until the upload ends, so
/// the pool must not hand it to the next request.
#[tokio::test]
async fn a_connection_still_sending_an_upload_is_not_reused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                loop {
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => seen.extend_from_slice(&buf[..k]),
                        }
                    }
                    if seen.starts_with(b"POST") {
                        let _ = s
                            .write_all(
                                b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n",
                            )
                            .await;
                        // Never read the body; keep the connection (the
                        // behaviour under test: an origin that stalls).
                        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                        return;
                    }
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok")
                        .await;
                    seen.clear();
                }
            });
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&format!("http://{addr}"), dir.path());
    cfg.upstream.first_byte_timeout_ms = 3000;
    let node = TestNode::start(cfg).await;

    // An upload that sends one chunk and then stalls (the sender stays alive).
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(1);
    tx.send(bytes::Bytes::from_static(b"first part of a long upload"))
        .await
        .expect("queue chunk");
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| {
            (
                Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(b)),
                rx,
            )
        })
    });
    let upload = edgecache::body::boxed(http_body_util::StreamBody::new(Box::pin(stream)));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<edgecache::body::Body>();
    let req = http::Request::post(node.url("/upload"))
        .body(upload)
        .expect("request");
    let resp = client.request(req).await.expect("response head");
    assert_eq!(resp.status(), 413);

    let after = get(&node.url("/after")).await;
    assert_eq!(
        (after.status, after.text().as_str()),
        (200, "ok"),
        "the next request waited behind the upload: {}",
        after.cache_status()
    );
    drop(tx);
    node.stop().await;
}
