//! Request collapsing never hands one client's response to another unless
//! the cache could have served it from storage without validation, and a
//! follower's own preconditions are answered as a hit's would be.

use crate::support;

use bytes::Bytes;
use std::sync::Arc;
use support::{Origin, TestNode, test_config, wait_until};

/// An origin that answers with `headers` and a body naming the request's
/// Cookie, holding the end of the body until the gate opens.
async fn gated(
    gate: Arc<tokio::sync::Semaphore>,
    headers: &'static [(&'static str, &'static str)],
) -> Origin {
    Origin::start(move |seen| {
        let gate = gate.clone();
        let who = seen
            .headers
            .get("cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        let frames = futures_util::stream::unfold(0u8, move |step| {
            let (gate, who) = (gate.clone(), who.clone());
            async move {
                match step {
                    0 => Some((
                        Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(
                            format!("page of {who}"),
                        ))),
                        1,
                    )),
                    1 => {
                        let _permit = gate.acquire().await.expect("gate");
                        None
                    }
                    _ => None,
                }
            }
        });
        let mut r = http::Response::new(edgecache::body::boxed(http_body_util::StreamBody::new(
            frames,
        )));
        for (n, v) in headers {
            r.headers_mut().insert(*n, v.parse().expect("valid"));
        }
        r
    })
    .await
}

async fn wait_count(origin: &Origin, path: &str, n: usize) {
    wait_until(
        &format!("{n} origin requests for {path}"),
        std::time::Duration::from_secs(10),
        || origin.count(path) >= n,
    )
    .await;
}

/// Two users with their own cookies ask for a page whose response is
/// stored but may not be reused without validation: no Cache-Control at all
/// (no heuristic lifetime without Last-Modified), `no-cache`, or
/// `max-age=0`. The second user waits on the first one's fetch, and must be
/// released to fetch its own page (RFC 9111 §4).
#[tokio::test]
async fn waiters_never_get_a_personalised_page() {
    let cases: [&'static [(&'static str, &'static str)]; 3] = [
        &[],
        &[("cache-control", "max-age=60, no-cache")],
        &[("cache-control", "max-age=0"), ("etag", "\"e\"")],
    ];
    for headers in cases {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let origin = gated(gate.clone(), headers).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
        let url = node.url("/me");
        let first = tokio::spawn({
            let url = url.clone();
            async move { support::send("GET", &url, &[("cookie", "user=a")]).await }
        });
        // The first request is at the origin (its body held open) before the
        // second arrives, so the second joins its flight.
        wait_count(&origin, "/me", 1).await;
        let second = tokio::spawn({
            let url = url.clone();
            async move { support::send("GET", &url, &[("cookie", "user=b")]).await }
        });
        // Released at once, the second user reaches the origin while the
        // first one's body is still held open. (A cache that shares the
        // first response never sends it: the wait then just ends.)
        wait_count(&origin, "/me", 2).await;
        gate.add_permits(10);
        let (a, b) = (first.await.expect("a"), second.await.expect("b"));
        assert_eq!(a.text(), "page of user=a", "{headers:?}");
        assert_eq!(
            b.text(),
            "page of user=b",
            "{headers:?}: {}",
            b.cache_status()
        );
        node.stop().await;
    }
}

/// A follower's preconditions are evaluated against the shared response as
/// for a hit: `If-Match` with another tag is 412, a matching
/// `If-None-Match` is 304 (RFC 9110 §13.2.2).
#[tokio::test]
async fn followers_answer_their_own_preconditions() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let origin = gated(
        gate.clone(),
        &[("cache-control", "max-age=60"), ("etag", "\"v1\"")],
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let url = node.url("/pre");
    let leader = tokio::spawn({
        let url = url.clone();
        async move { support::send("GET", &url, &[]).await }
    });
    wait_count(&origin, "/pre", 1).await;
    // The leader's head is out and its body held open: these followers are
    // answered from the shared response while the fill is in flight.
    let ten = std::time::Duration::from_secs(10);
    for (name, value, want) in [
        ("if-match", "\"other\"", 412),
        ("if-none-match", "\"v1\"", 304),
    ] {
        let got = tokio::time::timeout(ten, support::send("GET", &url, &[(name, value)]))
            .await
            .expect("answered without waiting for the body");
        assert_eq!(got.status, want, "{name}: {value}");
        assert!(
            got.cache_status().contains("collapsed"),
            "{}",
            got.cache_status()
        );
    }
    gate.add_permits(10);
    assert_eq!(leader.await.expect("leader").status, 200);
    let matching = support::send("GET", &url, &[("if-match", "\"v1\"")]).await;
    assert_eq!(matching.status, 200);
    node.stop().await;
}
