//! Broken origins: conflicting Content-Length, an invalid status line and a
//! truncated body are never cached; the client gets a 502 or a cut response.

use crate::support;

use http_body_util::BodyExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::{TestNode, test_config};

/// A raw origin that answers every request with `response` and closes.
async fn raw_origin(response: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    support::raw_origin::start(move |_| Some(response.to_vec())).await
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
        let node = TestNode::start(test_config(&url, dir.path())).await;
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
    let node = TestNode::start(test_config(&url, dir.path())).await;
    let client: hyper_util::client::legacy::Client<_, edgecache::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    for round in 1..=2 {
        let req = http::Request::get(node.url("/t"))
            .body(edgecache::body::empty())
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
    // Even-numbered connections are dropped without a response.
    let (url, conns) = support::raw_origin::start(|n| {
        (!n.is_multiple_of(2)).then(|| {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok".to_vec()
        })
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&url, dir.path())).await;
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
