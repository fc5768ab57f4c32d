//! Request collapsing against a real node: one origin request for many
//! concurrent misses, streamed to every waiter; uncacheable responses and
//! other variants are not shared.

use crate::support;

use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::Arc;
use support::{Origin, TestNode, test_config, wait_until, wait_until_async};

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    edgecache::body::Body,
>;

fn client() -> HttpClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// An origin whose body sends "head-" at once and "tail" when the gate opens.
async fn gated_origin(gate: Arc<tokio::sync::Semaphore>, cc: &'static str) -> Origin {
    Origin::start(move |seen| {
        let gate = gate.clone();
        let lang = seen
            .headers
            .get("accept-language")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        let frames = futures_util::stream::unfold(0u8, move |step| {
            let (gate, lang) = (gate.clone(), lang.clone());
            async move {
                match step {
                    0 => Some((
                        Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(
                            format!("head-{lang}-"),
                        ))),
                        1,
                    )),
                    1 => {
                        let _permit = gate.acquire().await.expect("gate");
                        Some((Ok(http_body::Frame::data(Bytes::from_static(b"tail"))), 2))
                    }
                    _ => None,
                }
            }
        });
        let mut r = http::Response::new(edgecache::body::boxed(http_body_util::StreamBody::new(
            frames,
        )));
        r.headers_mut()
            .insert("cache-control", cc.parse().expect("valid"));
        r.headers_mut()
            .insert("vary", "accept-language".parse().expect("valid"));
        r
    })
    .await
}

async fn wait_for(origin: &Origin, path: &str, n: usize) {
    wait_until(
        &format!("{n} origin requests for {path}"),
        std::time::Duration::from_secs(10),
        || origin.count(path) >= n,
    )
    .await;
}

#[tokio::test]
async fn concurrent_misses_make_one_origin_request_and_all_stream_it() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let origin = gated_origin(gate.clone(), "max-age=60").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let client = client();
    // 100 concurrent misses for the same object.
    let heads = futures_util::future::join_all((0..100).map(|_| {
        let req = http::Request::get(node.url("/c"))
            .header("accept-language", "en")
            .body(edgecache::body::empty())
            .expect("req");
        client.request(req)
    }))
    .await;
    let mut bodies = Vec::new();
    let mut statuses = Vec::new();
    for resp in heads {
        let resp = resp.expect("response head arrives before the body is complete");
        statuses.push(
            resp.headers()
                .get("cache-status")
                .expect("cs")
                .to_str()
                .expect("ascii")
                .to_string(),
        );
        bodies.push(resp.into_body());
    }
    // Every client has its head and the first chunk while the origin still holds the rest.
    for b in &mut bodies {
        let first = b
            .frame()
            .await
            .expect("frame")
            .expect("ok")
            .into_data()
            .expect("data");
        assert_eq!(&first[..], b"head-en-");
    }
    assert_eq!(
        origin.count("/c"),
        1,
        "one origin request for twenty clients"
    );
    gate.add_permits(100);
    for b in bodies {
        assert_eq!(&b.collect().await.expect("rest").to_bytes()[..], b"tail");
    }
    assert_eq!(
        statuses.iter().filter(|s| s.contains("collapsed")).count(),
        99,
        "{statuses:?}"
    );
    let again = support::send("GET", &node.url("/c"), &[("accept-language", "en")]).await;
    assert!(
        again.cache_status().contains("; hit"),
        "stored by the shared fill: {}",
        again.cache_status()
    );
    assert_eq!(origin.count("/c"), 1);
    node.stop().await;
}

#[tokio::test]
async fn uncacheable_and_other_variants_are_not_shared() {
    let gate = Arc::new(tokio::sync::Semaphore::new(1000));
    let origin = gated_origin(gate.clone(), "no-store").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let url = node.url("/u");
        let lang = if i % 2 == 0 { "en" } else { "fr" };
        tasks.push(tokio::spawn(async move {
            (
                lang,
                support::send("GET", &url, &[("accept-language", lang)]).await,
            )
        }));
    }
    for t in tasks {
        let (lang, got) = t.await.expect("task");
        assert_eq!(got.text(), format!("head-{lang}-tail"));
        assert!(
            !got.cache_status().contains("collapsed"),
            "{}",
            got.cache_status()
        );
    }
    wait_for(&origin, "/u", 10).await;
    assert_eq!(
        origin.count("/u"),
        10,
        "uncacheable: every request reaches the origin"
    );

    // Cacheable, two variants at once: each variant gets its own body.
    let origin = gated_origin(Arc::new(tokio::sync::Semaphore::new(1000)), "max-age=60").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node2 = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let url = node2.url("/v");
        let lang = if i % 2 == 0 { "en" } else { "fr" };
        tasks.push(tokio::spawn(async move {
            (
                lang,
                support::send("GET", &url, &[("accept-language", lang)]).await,
            )
        }));
    }
    for t in tasks {
        let (lang, got) = t.await.expect("task");
        assert_eq!(
            got.text(),
            format!("head-{lang}-tail"),
            "{}",
            got.cache_status()
        );
    }
    node.stop().await;
    node2.stop().await;
}

#[tokio::test]
async fn shared_fill_survives_the_leading_client_disconnecting() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let origin = gated_origin(gate.clone(), "max-age=60").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let client = client();
    let req = http::Request::get(node.url("/d"))
        .body(edgecache::body::empty())
        .expect("req");
    let leader = client.request(req).await.expect("leader head");
    drop(leader);
    gate.add_permits(10);
    let mut got = String::new();
    wait_until_async(
        "/d to be a hit",
        std::time::Duration::from_secs(10),
        async || {
            let g = support::send("GET", &node.url("/d"), &[]).await;
            got = g.text();
            g.cache_status().contains("; hit")
        },
    )
    .await;
    assert_eq!(
        got, "head---tail",
        "the fill completed and was stored although its client left"
    );
    assert_eq!(origin.count("/d"), 1, "no second origin request was needed");
    node.stop().await;
}

/// Hit-for-pass skips the store lookup, so a storable response must end it:
/// once the origin starts answering with a lifetime, the next request hits.
#[tokio::test]
async fn a_storable_response_ends_hit_for_pass() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    let origin = Origin::start(move |_| {
        let cc = if c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            "no-store"
        } else {
            "max-age=60"
        };
        support::reply(200, &[("cache-control", cc)], "v")
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let first = support::get(&node.url("/hfp")).await;
    assert!(
        first.cache_status().contains("no-store"),
        "{}",
        first.cache_status()
    );
    let second = support::get(&node.url("/hfp")).await;
    assert!(
        second.cache_status().contains("stored"),
        "{}",
        second.cache_status()
    );
    let third = support::get(&node.url("/hfp")).await;
    assert!(
        third.cache_status().contains("hit"),
        "{}",
        third.cache_status()
    );
    assert_eq!(origin.count("/hfp"), 2);
    node.stop().await;
}
