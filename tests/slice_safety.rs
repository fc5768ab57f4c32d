//! Slices under a hostile or changing world: an object that changes while
//! its slices are fetched is never spliced from two versions, and a client
//! that stops reading a sliced answer does not make the node fetch the rest.

use crate::range_fill::{pattern, ranged_reply_as, sliced};
use crate::support;

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::{Origin, TestNode, send};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SLICE: usize = 64 << 10;

/// GET `url` with `range`: the status, and the body or the error that
/// ended it.
async fn ranged(url: &str, range: &str) -> (u16, Result<bytes::Bytes, String>) {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::get(url)
        .header("range", range)
        .body(edgecache::body::empty())
        .expect("request");
    let resp = client.request(req).await.expect("response head");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await;
    (
        status,
        body.map(|b| b.to_bytes()).map_err(|e| e.to_string()),
    )
}

#[tokio::test]
async fn a_changed_object_is_never_spliced_from_two_versions() {
    const LEN: usize = 1 << 20;
    let v1 = Arc::new(pattern(LEN));
    let v2: Arc<Vec<u8>> = Arc::new(v1.iter().map(|b| b.wrapping_add(1)).collect());
    let changed = Arc::new(AtomicBool::new(false));
    let (o1, o2, c) = (v1.clone(), v2.clone(), changed.clone());
    // An origin that honours If-Range (RFC 9110 §13.1.5): once the object
    // has changed, a slice request for the old one gets the whole new one.
    let origin = Origin::start(move |seen| {
        if c.load(Ordering::SeqCst) {
            ranged_reply_as(seen, &o2, "\"v2\"")
        } else {
            ranged_reply_as(seen, &o1, "\"v1\"")
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(sliced(&origin.url(), dir.path())).await;
    let url = node.url("/changing");

    // Slice 0 of version 1 is stored.
    let (status, body) = ranged(&url, "bytes=100-199").await;
    assert_eq!(status, 206);
    assert_eq!(body.expect("body").as_ref(), &v1[100..200]);

    // The object changes. A range over slices 0 and 1 starts from the
    // stored slice 0 (version 1); slice 1 comes back as version 2, so the
    // answer ends with an error instead of splicing the two.
    changed.store(true, Ordering::SeqCst);
    let range = format!("bytes=100-{}", SLICE + 99);
    let (status, body) = ranged(&url, &range).await;
    assert_eq!(status, 206);
    assert!(body.is_err(), "a spliced body was delivered: {body:?}");

    // The old size is forgotten: the next request learns version 2 and
    // every byte of it is version 2's, slice 0 included.
    let (status, body) = ranged(&url, &range).await;
    assert_eq!(status, 206);
    assert_eq!(body.expect("body").as_ref(), &v2[100..SLICE + 100]);
    let got = send("GET", &url, &[("range", "bytes=0-9")]).await;
    assert_eq!(got.body.as_ref(), &v2[..10]);
    node.stop().await;
}

#[tokio::test]
async fn an_origin_that_ignores_if_range_and_changes_is_caught_by_its_validators() {
    const LEN: usize = 1 << 20;
    let v1 = Arc::new(pattern(LEN));
    let changed = Arc::new(AtomicBool::new(false));
    let (o1, c) = (v1.clone(), changed.clone());
    // Same bytes, a new ETag, and If-Range ignored: the 206 itself is
    // what tells the node the object is no longer the one it started.
    let origin = Origin::start(move |seen| {
        let mut seen = seen.clone();
        seen.headers.remove("if-range");
        let etag = if c.load(Ordering::SeqCst) {
            "\"v2\""
        } else {
            "\"v1\""
        };
        ranged_reply_as(&seen, &o1, etag)
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(sliced(&origin.url(), dir.path())).await;
    let url = node.url("/relabelled");
    let (_, body) = ranged(&url, "bytes=0-9").await;
    assert_eq!(body.expect("body").as_ref(), &v1[..10]);
    changed.store(true, Ordering::SeqCst);
    let (status, body) = ranged(&url, &format!("bytes=0-{}", 2 * SLICE)).await;
    assert_eq!(status, 206);
    assert!(body.is_err(), "slices of two ETags were spliced");
    node.stop().await;
}

#[tokio::test]
async fn a_stalled_reader_of_a_sliced_answer_does_not_fetch_the_rest() {
    const LEN: usize = 32 << 20;
    const SLICES: usize = LEN / SLICE;
    let body = Arc::new(pattern(LEN));
    let b2 = body.clone();
    let origin = Origin::start(move |seen| ranged_reply_as(seen, &b2, "\"v1\"")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(sliced(&origin.url(), dir.path())).await;
    let url = node.url("/stalled");
    let _ = ranged(&url, "bytes=0-0").await;
    let before = origin.count("/stalled");

    // Ask for the whole object as one range, read the head, then stop.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut conn = socket.connect(node.addr).await.expect("connect");
    let req = format!(
        "GET /stalled HTTP/1.1\r\nhost: {}\r\nrange: bytes=0-{}\r\n\r\n",
        node.addr,
        LEN - 1
    );
    conn.write_all(req.as_bytes()).await.expect("write");
    let mut head = [0u8; 1024];
    let n = conn.read(&mut head).await.expect("read");
    assert!(
        head[..n].starts_with(b"HTTP/1.1 206"),
        "{:?}",
        String::from_utf8_lossy(&head[..n])
    );

    // Wait until the node stops fetching (the socket buffers are full):
    // "stopped" is only observable as no new slice fetch for a while, so
    // this samples the count every 300 ms until it holds still (and fails
    // if it never does).
    let mut last = origin.count("/stalled");
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = origin.count("/stalled");
        if now == last {
            break;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "the node kept fetching slices for 30 s ({now} so far)"
        );
        last = now;
    }
    let fetched = last - before;
    assert!(
        fetched < SLICES / 2,
        "{fetched} of {SLICES} slices fetched for a client that read one kilobyte"
    );
    drop(conn);
    node.stop().await;
}
