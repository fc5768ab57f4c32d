//! Broken origins: conflicting Content-Length, an invalid status line and a
//! truncated body are never cached; the client gets a 502 or a cut response.

mod support;

use http_body_util::BodyExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::{Node, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A raw TCP origin that answers every request with `response` and closes.
async fn raw_origin(response: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                c.fetch_add(1, Ordering::SeqCst);
                let _ = s.write_all(response).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), count)
}

#[tokio::test]
async fn broken_origin_responses_are_502_and_never_cached() {
    let cases: [(&str, &'static [u8]); 2] = [
        (
            "conflicting Content-Length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\nCache-Control: max-age=60\r\n\r\nhello",
        ),
        ("invalid status line", b"HTTP/1.1 abc OK\r\nCache-Control: max-age=60\r\n\r\nhello"),
    ];
    for (name, response) in cases {
        let (url, count) = raw_origin(response).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let node = Node::start(test_config(&url, dir.path())).await;
        for round in 1..=2 {
            let got = support::get(&node.url("/x")).await;
            assert_eq!(got.status, 502, "{name}: {}", got.text());
            assert_eq!(
                count.load(Ordering::SeqCst),
                round,
                "{name}: nothing was cached"
            );
        }
        node.stop().await;
    }
}

#[tokio::test]
async fn truncated_body_is_cut_and_not_cached() {
    let (url, count) =
        raw_origin(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nCache-Control: max-age=60\r\n\r\nonly twenty bytes...").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(test_config(&url, dir.path())).await;
    let client: hyper_util::client::legacy::Client<_, edgecache::server::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    for round in 1..=2 {
        let req = http::Request::get(node.url("/t"))
            .body(edgecache::server::body::empty())
            .expect("req");
        // A connection closed before the head is also acceptable.
        if let Ok(resp) = client.request(req).await {
            let body = resp.into_body().collect().await;
            assert!(
                body.is_err(),
                "round {round}: a truncated body must not look complete"
            );
        }
        assert_eq!(
            count.load(Ordering::SeqCst),
            round,
            "the truncated response was not cached"
        );
    }
    node.stop().await;
}

/// An origin that drops the first connection without answering, then works.
#[tokio::test]
async fn idempotent_requests_are_retried_once_after_a_dropped_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let n = c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => seen.extend_from_slice(&buf[..k]),
                    }
                }
                if n.is_multiple_of(2) {
                    return; // drop the connection: no response at all
                }
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok").await;
                let _ = s.shutdown().await;
            });
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(test_config(&format!("http://{addr}"), dir.path())).await;
    let got = support::get(&node.url("/r")).await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (200, "ok"),
        "the GET was retried"
    );
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    let post = support::send("POST", &node.url("/r"), &[]).await;
    assert_eq!(post.status, 502, "POST is not idempotent: never retried");
    assert_eq!(conns.load(Ordering::SeqCst), 3);
    node.stop().await;
}
