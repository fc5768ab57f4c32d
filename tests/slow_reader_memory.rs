//! A client that stops reading must not make the node hold the object it
//! shares with others: measured as the process's resident memory while a
//! 256 MiB body streams through one collapsed fetch. (Its own test binary,
//! so no other test's memory is counted.)

mod support;

use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::Arc;
use support::{Origin, TestNode, test_config};
use tokio::io::AsyncWriteExt;

const MIB: usize = 1 << 20;
const BODY_MIB: usize = 256;

/// Resident and peak resident memory of this process, in bytes.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_collapsed_client_does_not_hold_the_body_in_memory() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let chunk = Bytes::from(vec![b'x'; MIB]);
    let origin = {
        let gate = gate.clone();
        Origin::start(move |_| {
            let (gate, chunk) = (gate.clone(), chunk.clone());
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
            // No Content-Length: admitted (the store keeps only what fits),
            // so the fetch is shared with waiters.
            let mut r = http::Response::new(edgecache::body::boxed(
                http_body_util::StreamBody::new(frames),
            ));
            r.headers_mut()
                .insert("cache-control", "max-age=60".parse().expect("valid"));
            r
        })
        .await
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;

    // The leader's client asks and never reads a byte.
    let mut stalled = tokio::net::TcpStream::connect(node.addr)
        .await
        .expect("connect");
    stalled
        .write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    support::wait_until(
        "the stalled client's fetch at the origin",
        std::time::Duration::from_secs(10),
        || origin.count("/big") == 1,
    )
    .await;
    // A second client joins the same fetch (its head arrives while the
    // origin holds the body) and reads everything.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<edgecache::body::Body>();
    let req = http::Request::get(node.url("/big"))
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
    let (before, _) = rss();
    gate.add_permits(1);
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
    let (_, peak) = rss();
    assert_eq!(read, BODY_MIB * MIB, "the reading client gets it all");
    assert_eq!(origin.count("/big"), 1, "one origin fetch");
    let growth = peak.saturating_sub(before);
    eprintln!("peak RSS growth: {} MiB", growth / MIB as u64);
    assert!(
        growth < 96 * MIB as u64,
        "memory grew by {} MiB while {BODY_MIB} MiB streamed past a stalled reader",
        growth / MIB as u64
    );
    drop(stalled);
    node.stop().await;
}
