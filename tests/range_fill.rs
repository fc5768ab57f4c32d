//! Ranges that fill the cache: a Range miss fetches the whole object once
//! and later ranges are hits; objects above `slice_above_bytes` are fetched
//! in slices, each once; concurrent ranges collapse onto one fill.

use crate::support;

use bytes::Bytes;
use std::sync::Arc;
use support::{Origin, Seen, TestNode, reply, send, test_config, wait_until};

/// `n` bytes of a recognisable pattern (byte i is `i * 7 % 251`).
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// An origin serving `body` at every path, honouring single byte ranges
/// (RFC 9110 §14) with a strong ETag, as a range-capable origin does.
fn ranged_reply(seen: &Seen, body: &[u8]) -> http::Response<edgecache::body::Body> {
    ranged_reply_as(seen, body, "\"v1\"")
}

/// `ranged_reply` for a representation tagged `etag`, honouring If-Range
/// (RFC 9110 §13.1.5): a Range whose If-Range names another ETag gets the
/// whole representation.
pub fn ranged_reply_as(
    seen: &Seen,
    body: &[u8],
    etag: &str,
) -> http::Response<edgecache::body::Body> {
    let len = body.len();
    let if_range = seen.headers.get("if-range");
    let range = seen
        .headers
        .get("range")
        .filter(|_| if_range.is_none_or(|v| v.as_bytes() == etag.as_bytes()))
        .and_then(|v| v.to_str().ok());
    let common = [
        ("cache-control", "max-age=600"),
        ("etag", etag),
        ("content-type", "video/mp4"),
        ("accept-ranges", "bytes"),
    ];
    let Some((a, b)) = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
    else {
        return reply(200, &common, Bytes::copy_from_slice(body));
    };
    let b = b.min(len - 1);
    let cr = format!("bytes {a}-{b}/{len}");
    let mut headers = common.to_vec();
    headers.push(("content-range", &cr));
    reply(206, &headers, Bytes::copy_from_slice(&body[a..=b]))
}

fn ranges_seen(origin: &Origin, path: &str) -> Vec<Option<String>> {
    origin
        .seen()
        .iter()
        .filter(|s| s.path == path)
        .map(|s| {
            s.headers
                .get("range")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn a_range_miss_fetches_the_whole_object_once_and_ten_ranges_are_hits() {
    let body = Arc::new(pattern(300_000));
    let b2 = body.clone();
    let origin = Origin::start(move |seen| ranged_reply(seen, &b2)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let url = node.url("/video");

    let first = send("GET", &url, &[("range", "bytes=1000-1999")]).await;
    assert_eq!(first.status, 206);
    assert_eq!(
        first.header("content-range"),
        Some("bytes 1000-1999/300000")
    );
    assert_eq!(first.body.as_ref(), &body[1000..2000]);
    assert!(
        first.cache_status().contains("stored"),
        "{}",
        first.cache_status()
    );
    assert_eq!(
        ranges_seen(&origin, "/video"),
        vec![None],
        "whole object asked for"
    );

    // The rest of the object is read into the store after the client's range
    // was sent: wait until the object is stored.
    wait_until_hit(&url).await;
    let ranges: [(usize, usize); 10] = [
        (0, 0),
        (299_999, 299_999),
        (5, 70_000),
        (150_000, 150_099),
        (42, 42),
        (100_000, 299_999),
        (65_535, 65_537),
        (1, 2),
        (200_000, 200_000),
        (0, 299_999),
    ];
    for (a, b) in ranges {
        let r = format!("bytes={a}-{b}");
        let got = send("GET", &url, &[("range", &r)]).await;
        assert_eq!(got.status, 206, "{r}");
        assert_eq!(
            got.header("content-range"),
            Some(format!("bytes {a}-{b}/300000").as_str()),
            "{r}"
        );
        assert_eq!(got.body.as_ref(), &body[a..=b], "{r}");
        assert!(
            got.cache_status().contains("; hit"),
            "{r}: {}",
            got.cache_status()
        );
    }
    let suffix = send("GET", &url, &[("range", "bytes=-10")]).await;
    assert_eq!(suffix.body.as_ref(), &body[299_990..]);
    let whole = send("GET", &url, &[]).await;
    assert_eq!((whole.status, whole.body.len()), (200, 300_000));
    assert_eq!(
        origin.count("/video"),
        1,
        "one origin request for everything"
    );
    node.stop().await;
}

/// Wait until a HEAD of `url` is a hit (the object is stored).
async fn wait_until_hit(url: &str) {
    for _ in 0..300 {
        if send("HEAD", url, &[])
            .await
            .cache_status()
            .contains("; hit")
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{url} was never stored");
}

#[tokio::test]
async fn the_fill_completes_when_the_range_client_has_gone() {
    let body = Arc::new(pattern(200_000));
    let b2 = body.clone();
    let origin = Origin::start(move |seen| ranged_reply(seen, &b2)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let url = node.url("/early");
    let first = send("GET", &url, &[("range", "bytes=0-9")]).await;
    assert_eq!(first.body.as_ref(), &body[..10]);
    let mut hit = None;
    for _ in 0..200 {
        let got = send("GET", &url, &[("range", "bytes=199990-199999")]).await;
        if got.cache_status().contains("; hit") {
            hit = Some(got);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let hit = hit.expect("the tail became a hit");
    assert_eq!(hit.body.as_ref(), &body[199_990..]);
    assert_eq!(origin.count("/early"), 1);
    node.stop().await;
}

#[tokio::test]
async fn an_unsatisfiable_range_on_a_miss_is_416_and_still_fills() {
    let origin =
        Origin::start(|_| reply(200, &[("cache-control", "max-age=60")], "0123456789")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let url = node.url("/short");
    let got = send("GET", &url, &[("range", "bytes=50-")]).await;
    assert_eq!(got.status, 416);
    assert_eq!(got.header("content-range"), Some("bytes */10"));
    let mut ok = false;
    for _ in 0..100 {
        let again = send("GET", &url, &[("range", "bytes=2-3")]).await;
        if again.cache_status().contains("; hit") {
            assert_eq!((again.status, again.text().as_str()), (206, "23"));
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(ok, "the object was stored");
    assert_eq!(origin.count("/short"), 1);
    node.stop().await;
}

#[tokio::test]
async fn range_fill_off_forwards_the_range_as_sent() {
    let body = Arc::new(pattern(1000));
    let b2 = body.clone();
    let origin = Origin::start(move |seen| ranged_reply(seen, &b2)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.cache.range_fill = false;
    let node = TestNode::start(cfg).await;
    let got = send("GET", &node.url("/off"), &[("range", "bytes=10-19")]).await;
    assert_eq!((got.status, got.body.as_ref()), (206, &body[10..20]));
    assert_eq!(
        ranges_seen(&origin, "/off"),
        vec![Some("bytes=10-19".to_string())]
    );
    node.stop().await;
}

#[tokio::test]
async fn concurrent_ranges_collapse_onto_one_fill() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g2 = gate.clone();
    let origin = Origin::start(move |_| {
        let gate = g2.clone();
        let frames = futures_util::stream::unfold(0u8, move |step| {
            let gate = gate.clone();
            async move {
                match step {
                    0 => Some((
                        Ok::<_, std::convert::Infallible>(http_body::Frame::data(
                            Bytes::from_static(b"01234"),
                        )),
                        1,
                    )),
                    1 => {
                        let _permit = gate.acquire().await.expect("gate");
                        Some((Ok(http_body::Frame::data(Bytes::from_static(b"56789"))), 2))
                    }
                    _ => None,
                }
            }
        });
        let mut r = http::Response::new(edgecache::body::boxed(http_body_util::StreamBody::new(
            frames,
        )));
        r.headers_mut()
            .insert("cache-control", "max-age=60".parse().expect("v"));
        r.headers_mut()
            .insert("content-length", "10".parse().expect("v"));
        r
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Arc::new(TestNode::start(test_config(&origin.url(), dir.path())).await);
    let url = node.url("/together");
    let mut tasks = Vec::new();
    for (i, r) in ["bytes=0-2", "bytes=3-7", "bytes=8-9", "bytes=-1"]
        .into_iter()
        .enumerate()
    {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            send("GET", &url, &[("range", r)]).await
        }));
        if i == 0 {
            // The first one leads: its fill is at the origin (its body
            // held by the gate) before the others ask.
            wait_until(
                "the leader's fill at the origin",
                std::time::Duration::from_secs(10),
                || origin.count("/together") >= 1,
            )
            .await;
        }
    }
    // Time for the three others to reach the node and join the flight
    // (nothing observable marks a waiter joining; the Cache-Status checks
    // below fail if one came too late and was answered otherwise).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    gate.add_permits(1);
    let want = ["012", "34567", "89", "9"];
    for (i, (t, w)) in tasks.into_iter().zip(want).enumerate() {
        let got = t.await.expect("task");
        assert_eq!(
            (got.status, got.text().as_str()),
            (206, w),
            "{}",
            got.cache_status()
        );
        if i > 0 {
            assert!(
                got.cache_status().contains("collapsed"),
                "request {i} joined the leader's fill: {}",
                got.cache_status()
            );
        }
    }
    assert_eq!(origin.count("/together"), 1, "one fill for every range");
    if let Ok(node) = Arc::try_unwrap(node) {
        node.stop().await;
    }
}

/// A config where objects above 256 KiB are sliced into 64 KiB slices.
pub fn sliced(origin: &str, dir: &std::path::Path) -> edgecache::config::Config {
    let mut cfg = test_config(origin, dir);
    cfg.storage.chunk_bytes = 1 << 20;
    cfg.cache.slice_bytes = 64 << 10;
    cfg.cache.slice_above_bytes = 256 << 10;
    cfg
}

#[tokio::test]
async fn a_large_object_is_fetched_in_slices_each_once() {
    const LEN: usize = 4 << 20; // above max_object_bytes (2 MiB) too
    let body = Arc::new(pattern(LEN));
    let b2 = body.clone();
    let origin = Origin::start(move |seen| ranged_reply(seen, &b2)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(sliced(&origin.url(), dir.path())).await;
    let url = node.url("/big");
    let s = 64 << 10;

    // A seek into the middle: one whole-object attempt (cut at its head),
    // then only the slice holding the range.
    let (a, b) = (3 * s + 100, 3 * s + 199);
    let got = send("GET", &url, &[("range", &format!("bytes={a}-{b}"))]).await;
    assert_eq!(got.status, 206);
    assert_eq!(
        got.header("content-range"),
        Some(format!("bytes {a}-{b}/{LEN}").as_str())
    );
    assert_eq!(got.body.as_ref(), &body[a..=b]);
    assert!(
        got.cache_status().contains("detail=slice"),
        "{}",
        got.cache_status()
    );

    // A range across slices 3..=5: slice 3 is stored, 4 and 5 are fetched.
    let (a, b) = (3 * s + 10, 5 * s + 10);
    let got = send("GET", &url, &[("range", &format!("bytes={a}-{b}"))]).await;
    assert_eq!(got.body.as_ref(), &body[a..=b]);
    // The same ranges again, and the end of the object.
    let got = send("GET", &url, &[("range", &format!("bytes={a}-{b}"))]).await;
    assert_eq!(got.body.as_ref(), &body[a..=b]);
    let got = send("GET", &url, &[("range", "bytes=-5")]).await;
    assert_eq!(got.body.as_ref(), &body[LEN - 5..]);

    let slice = |i: usize| Some(format!("bytes={}-{}", i * s, ((i + 1) * s).min(LEN) - 1));
    let last = LEN / s - 1;
    assert_eq!(
        ranges_seen(&origin, "/big"),
        vec![None, slice(3), slice(4), slice(5), slice(last)],
        "each slice fetched once, and nothing else"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_purge_reaches_the_slices() {
    const LEN: usize = 1 << 20;
    let body = Arc::new(pattern(LEN));
    let b2 = body.clone();
    let origin = Origin::start(move |seen| ranged_reply(seen, &b2)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = sliced(&origin.url(), dir.path());
    cfg.purge.public_purge_method = true;
    let node = TestNode::start(cfg).await;
    let url = node.url("/purged");
    let r = [("range", "bytes=0-9")];
    send("GET", &url, &r).await;
    send("GET", &url, &r).await;
    assert_eq!(
        ranges_seen(&origin, "/purged").len(),
        2,
        "whole attempt + slice 0"
    );
    let purged = send("PURGE", &url, &[]).await;
    assert!(purged.status < 300, "PURGE: {}", purged.status);
    let got = send("GET", &url, &r).await;
    assert_eq!(got.body.as_ref(), &body[..10]);
    assert_eq!(
        ranges_seen(&origin, "/purged").len(),
        3,
        "slice 0 fetched again"
    );
    node.stop().await;
}
