//! The keep-alive race: an origin closes an idle connection just as the
//! node writes the next request onto it (Node.js closes idle keep-alive
//! connections after 5 s, Apache after 5 s). Nothing was answered, so a
//! bodiless idempotent request is sent again on a fresh connection, and
//! the race never counts against the origin's circuit breaker.
//!
//! The origin here loses the race every time, deterministically: on each
//! connection it answers the first request (keep-alive) and closes the
//! connection, unanswered, when the second request arrives.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::{TestNode, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct RacingOrigin {
    url: String,
    /// Requests answered.
    answered: Arc<AtomicUsize>,
    /// Requests read and dropped unanswered.
    dropped: Arc<AtomicUsize>,
}

async fn racing_origin() -> RacingOrigin {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let answered = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (a, d) = (answered.clone(), dropped.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (a, d) = (a.clone(), d.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                for n in 0.. {
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => seen.extend_from_slice(&buf[..k]),
                        }
                    }
                    if n > 0 {
                        d.fetch_add(1, Ordering::SeqCst);
                        return; // closes the connection, unanswered
                    }
                    a.fetch_add(1, Ordering::SeqCst);
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok",
                        )
                        .await;
                }
            });
        }
    });
    RacingOrigin {
        url: format!("http://{addr}"),
        answered,
        dropped,
    }
}

fn config(url: &str, dir: &std::path::Path) -> edgecache::config::Config {
    let mut cfg = test_config(url, dir);
    // No help from the retry layer, and a breaker that opens on the second
    // failure of the lone server: only the connection-level resend saves
    // these requests.
    cfg.upstream.retries = 0;
    cfg.upstream.breaker_failures = 2;
    cfg.upstream.breaker_cooldown_secs = 60;
    cfg
}

#[tokio::test]
async fn a_get_the_origin_closed_unanswered_is_sent_again_on_a_fresh_connection() {
    let origin = racing_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url, dir.path())).await;
    for i in 0..10 {
        for method in ["GET", "HEAD"] {
            let got = support::send(method, &node.url(&format!("/race{i}")), &[]).await;
            assert_eq!(got.status, 200, "{method} {i}: {}", got.cache_status());
        }
    }
    assert!(
        origin.dropped.load(Ordering::SeqCst) >= 10,
        "the origin dropped {} requests: the race was not exercised",
        origin.dropped.load(Ordering::SeqCst)
    );
    node.stop().await;
}

/// A POST cannot be sent again (it may have been acted on), so it fails;
/// but the race is not the server's fault, so the lone server's breaker
/// stays closed and the next GET is served.
#[tokio::test]
async fn a_post_lost_to_the_race_fails_without_opening_the_breaker() {
    let origin = racing_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&origin.url, dir.path());
    // One failure would open it.
    cfg.upstream.breaker_failures = 1;
    let node = TestNode::start(cfg).await;
    let mut lost = 0;
    for i in 0..6 {
        // A GET leaves an answered (and now doomed) connection in the pool.
        let got = support::get(&node.url(&format!("/warm{i}"))).await;
        assert_eq!(
            got.status,
            200,
            "GET {i}, after {lost} lost POSTs: {}",
            got.cache_status()
        );
        let post = support::send("POST", &node.url(&format!("/post{i}")), &[]).await;
        if post.status == 502 {
            lost += 1;
            assert!(
                !post.cache_status().contains("origin-circuit-open"),
                "POST {i}: {}",
                post.cache_status()
            );
        } else {
            assert_eq!(post.status, 200, "POST {i}: {}", post.cache_status());
        }
    }
    assert!(lost >= 2, "only {lost} POSTs met a doomed connection");
    let after = support::get(&node.url("/after")).await;
    assert_eq!(
        (after.status, after.text().as_str()),
        (200, "ok"),
        "{}",
        after.cache_status()
    );
    assert!(origin.answered.load(Ordering::SeqCst) >= 7);
    node.stop().await;
}
