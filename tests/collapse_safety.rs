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

/// The flake of `slow_reader_memory` made deterministic. A client that has
/// stopped reading can still take megabytes from a shared fetch before it
/// stalls: whatever its socket buffers hold (here a 16 MiB receive buffer).
/// Early in the body it is then the fastest reader, and a client that does
/// read, but is a moment late (200 ms here; on a busy machine a few
/// milliseconds of scheduling were enough), is more than the flight's
/// limit (2 MiB with this config) behind it. The node must not cut the
/// client that reads for being behind one that has stopped: a reader is
/// detached only when it is the limit behind the fastest and has also
/// taken nothing for `STALL` (`proxy::collapse::flight`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_behind_a_stalled_client_with_big_socket_buffers_is_not_cut() {
    use http_body_util::BodyExt;
    use tokio::io::AsyncWriteExt;
    const MIB: usize = 1 << 20;
    const BODY_MIB: usize = 48;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let chunk = Bytes::from(vec![b'x'; MIB]);
    let g = gate.clone();
    let origin = Origin::start(move |_| {
        let (gate, chunk) = (g.clone(), chunk.clone());
        let frames = futures_util::stream::unfold(0usize, move |i| {
            let (gate, chunk) = (gate.clone(), chunk.clone());
            async move {
                if i == BODY_MIB {
                    return None;
                }
                if i == 1 {
                    let _open = gate.acquire().await.expect("gate");
                }
                Some((
                    Ok::<_, std::convert::Infallible>(http_body::Frame::data(chunk)),
                    i + 1,
                ))
            }
        });
        let mut r = http::Response::new(edgecache::body::boxed(http_body_util::StreamBody::new(
            frames,
        )));
        r.headers_mut()
            .insert("cache-control", "max-age=60".parse().expect("valid"));
        r
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    // The leader's client asks and never reads, with room for 16 MiB in
    // its receive buffer.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(16 << 20).expect("rcvbuf");
    let mut stalled = socket.connect(node.addr).await.expect("connect");
    stalled
        .write_all(b"GET /deep HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    wait_until(
        "the stalled client's fetch at the origin",
        std::time::Duration::from_secs(10),
        || origin.count("/deep") == 1,
    )
    .await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<edgecache::body::Body>();
    let req = http::Request::get(node.url("/deep"))
        .header("host", "a")
        .body(edgecache::body::empty())
        .expect("request");
    let resp = client.request(req).await.expect("follower head");
    let cs = resp
        .headers()
        .get("cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(cs.contains("collapsed"), "{cs}");
    gate.add_permits(1);
    // The reading client is a moment late: the behaviour under test.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut body = resp.into_body();
    let mut read = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap_or_else(|e| {
            panic!(
                "the reading client's body was cut after {} MiB: {e}",
                read / MIB
            )
        });
        read += frame.into_data().map_or(0, |d| d.len());
    }
    assert_eq!(read, BODY_MIB * MIB, "the reading client gets it all");
    assert_eq!(origin.count("/deep"), 1, "one origin fetch");
    drop(stalled);
    node.stop().await;
}
