//! Forms in other content codings are made once: concurrent first requests
//! for one coding share one transcode, and a 304 revalidation keeps the
//! forms made from the copy it refreshes. Counted in
//! `edgecache_content_coding_forms_total{coding, outcome}`.

use crate::support;

use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use support::coded_body::{decoded, gzip};
use support::{Origin, TestNode, metrics, reply, send, test_config, wait_until};

/// A page worth compressing.
fn page() -> String {
    "<p>a line of a page that compresses well</p>\n".repeat(2000)
}

/// Nearly 1 MiB of text that compresses, but not to nothing: words in a
/// pseudo-random order, so that making a form takes a while.
fn big_page() -> String {
    const WORDS: [&str; 8] = [
        "cache", "origin", "edge", "node", "purge", "key", "vary", "age",
    ];
    let mut x: u32 = 12345;
    let mut s = String::with_capacity(1 << 20);
    while s.len() < 1_000_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        s.push_str(WORDS[(x >> 16) as usize % WORDS.len()]);
        s.push(if x.is_multiple_of(13) { '\n' } else { ' ' });
    }
    s
}

/// The value of `edgecache_content_coding_forms_total` for one label pair.
async fn forms(node: &TestNode, coding: &str, outcome: &str) -> u64 {
    let text = metrics(node.admin_addr).await;
    let line = format!(
        "edgecache_content_coding_forms_total{{coding=\"{coding}\",outcome=\"{outcome}\"}} "
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line} in\n{text}"))
}

#[tokio::test]
async fn concurrent_first_requests_for_a_coding_make_it_once() {
    let origin = Origin::start(|_| {
        reply(
            200,
            &[
                ("content-type", "text/html"),
                ("cache-control", "max-age=600"),
            ],
            big_page(),
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let url = node.url("/page");
    // The stored copy first (identity), then eight clients at once ask
    // for a form nobody has made yet.
    assert_eq!(send("GET", &url, &[]).await.body, big_page().as_bytes());
    let clients = (0..8).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { send("GET", &url, &[("accept-encoding", "br")]).await })
    });
    let clients: Vec<_> = clients.collect();
    for c in clients {
        let got = c.await.expect("client");
        assert_eq!(got.header("content-encoding"), Some("br"));
        assert_eq!(decoded(&got), big_page().as_bytes());
    }
    assert_eq!(forms(&node, "br", "made").await, 1, "made once");
    assert_eq!(forms(&node, "br", "reused").await, 7);
    assert_eq!(origin.count("/page"), 1);
    node.stop().await;
}

#[tokio::test]
async fn a_304_revalidation_keeps_the_forms_made_from_the_copy() {
    let origin = Origin::start(|seen| match seen.headers.get("if-none-match") {
        Some(_) => reply(
            304,
            &[("etag", "\"v1\""), ("cache-control", "max-age=1")],
            "",
        ),
        None => reply(
            200,
            &[
                ("content-type", "text/css"),
                ("etag", "\"v1\""),
                ("cache-control", "max-age=1"),
            ],
            page(),
        ),
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let url = node.url("/style.css");
    for round in 0..3 {
        let got = send("GET", &url, &[("accept-encoding", "gzip")]).await;
        assert_eq!(
            got.header("content-encoding"),
            Some("gzip"),
            "round {round}"
        );
        assert_eq!(decoded(&got), page().as_bytes());
        // Past max-age=1 (Age counts whole seconds): the next request revalidates.
        tokio::time::sleep(Duration::from_millis(2100)).await;
    }
    let fetches = origin.count("/style.css");
    assert_eq!(fetches, 3, "a fetch, then two revalidations");
    assert_eq!(
        forms(&node, "gzip", "made").await,
        1,
        "made once, not per 304"
    );
    assert_eq!(forms(&node, "gzip", "carried").await, 2);
    node.stop().await;
}

/// An origin that ignores the node's `Accept-Encoding: identity` and sends
/// gzip, with a Content-Length: half the body at once, the rest when
/// `gate` opens, so that a second request can join the first's fetch.
async fn gzip_only_gated_origin(gate: Arc<tokio::sync::Semaphore>) -> Origin {
    let zipped = Bytes::from(gzip(page().as_bytes()));
    Origin::start(move |_| {
        let (gate, z) = (gate.clone(), zipped.clone());
        let half = z.len() / 2;
        let len = z.len().to_string();
        let frames = futures_util::stream::unfold(0u8, move |step| {
            let (gate, z) = (gate.clone(), z.clone());
            async move {
                let data = match step {
                    0 => z.slice(..half),
                    1 => {
                        let _open = gate.acquire().await.expect("gate");
                        z.slice(half..)
                    }
                    _ => return None,
                };
                Some((
                    Ok::<_, std::convert::Infallible>(http_body::Frame::data(data)),
                    step + 1,
                ))
            }
        });
        let mut r = http::Response::new(edgecache::body::boxed(http_body_util::StreamBody::new(
            frames,
        )));
        for (n, v) in [
            ("content-type", "text/html"),
            ("content-encoding", "gzip"),
            ("cache-control", "max-age=600"),
            ("content-length", len.as_str()),
        ] {
            r.headers_mut().insert(n, v.parse().expect("valid"));
        }
        r
    })
    .await
}

/// Two followers join a gzip client's miss while its body is held: one
/// takes gzip, one takes identity only. The gzip follower is collapsed onto
/// the leader (Cache-Status says so, and the origin is not asked for it):
/// this proves the requests did meet in one flight. The identity follower
/// is never given the gzip stream: it fetches alone and gets identity.
#[tokio::test]
async fn a_collapsed_follower_never_gets_a_coding_it_does_not_accept() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let origin = gzip_only_gated_origin(gate.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let url = node.url("/zipped");
    // A gzip client's miss is in flight (its head is out, its body waits) ...
    let u = url.clone();
    let leader = tokio::spawn(async move { send("GET", &u, &[("accept-encoding", "gzip")]).await });
    wait_until(
        "the leader's fetch at the origin",
        Duration::from_secs(10),
        || origin.count("/zipped") >= 1,
    )
    .await;
    // ... when a client that takes gzip and one that takes identity only
    // ask for the same object.
    let u = url.clone();
    let gzip_follower =
        tokio::spawn(async move { send("GET", &u, &[("accept-encoding", "gzip")]).await });
    let u = url.clone();
    let follower =
        tokio::spawn(async move { send("GET", &u, &[("accept-encoding", "identity")]).await });
    // The identity follower, once it has seen the leader's gzip head, goes
    // to the origin alone: the second origin request.
    wait_until(
        "the identity follower's own fetch at the origin",
        Duration::from_secs(10),
        || origin.count("/zipped") >= 2,
    )
    .await;
    // Time for the gzip follower to reach the node and join the flight
    // while the leader's body is still held (nothing observable marks a
    // waiter joining; if it had not joined it would be a third fetch).
    tokio::time::sleep(Duration::from_millis(200)).await;
    gate.add_permits(10);
    let (leader, gzip_follower, follower) = (
        leader.await.expect("leader"),
        gzip_follower.await.expect("gzip follower"),
        follower.await.expect("follower"),
    );
    assert_eq!(leader.header("content-encoding"), Some("gzip"));
    assert_eq!(decoded(&leader), page().as_bytes());
    // The collapse happened: the gzip follower shared the leader's fetch.
    assert!(
        gzip_follower.cache_status().contains("collapsed"),
        "the gzip follower was collapsed onto the leader: {}",
        gzip_follower.cache_status()
    );
    assert_eq!(gzip_follower.header("content-encoding"), Some("gzip"));
    assert_eq!(decoded(&gzip_follower), page().as_bytes());
    // RFC 9110 §12.5.3: not a coding it did not accept.
    assert_eq!(follower.status, 200);
    assert_eq!(follower.header("content-encoding"), None, "{follower:?}");
    assert_eq!(follower.body.as_ref(), page().as_bytes());
    assert!(
        !follower.cache_status().contains("collapsed"),
        "{}",
        follower.cache_status()
    );
    assert_eq!(
        origin.count("/zipped"),
        2,
        "the leader's fetch, shared with the gzip follower, and the identity follower's own"
    );
    node.stop().await;
}
