//! Origin body timeouts: a body that stalls is cut, not stored, and counted.

use crate::support;

use bytes::Bytes;
use http_body_util::BodyExt;
use support::{Origin, TestNode, test_config};

#[tokio::test]
async fn stalled_origin_body_is_cut_not_stored_and_counted() {
    let origin = Origin::start(|_| {
        let frames = futures_util::stream::unfold(0u8, |step| async move {
            if step == 0 {
                Some((
                    Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from_static(
                        b"partial",
                    ))),
                    1,
                ))
            } else {
                // Never sends the rest.
                std::future::pending::<()>().await;
                None
            }
        });
        let mut r = http::Response::new(edgecache::body::boxed(http_body_util::StreamBody::new(
            frames,
        )));
        r.headers_mut()
            .insert("cache-control", "max-age=60".parse().expect("valid"));
        r.headers_mut()
            .insert("content-length", "100".parse().expect("valid"));
        r
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.upstream.idle_timeout_ms = 200;
    let node = TestNode::start(cfg).await;
    let client: hyper_util::client::legacy::Client<_, edgecache::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    for round in 1..=2 {
        let req = http::Request::get(node.url("/stall"))
            .body(edgecache::body::empty())
            .expect("req");
        let resp = client.request(req).await.expect("head");
        assert_eq!(resp.status(), 200);
        let result = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            resp.into_body().collect(),
        )
        .await;
        assert!(
            matches!(result, Ok(Err(_))),
            "round {round}: the body ends in an error, not as if complete"
        );
        assert_eq!(
            origin.count("/stall"),
            round,
            "nothing was stored, so every request goes to the origin"
        );
    }
    let text = support::metrics(node.admin_addr).await;
    assert!(
        text.contains("edgecache_upstream_idle_timeouts_total 2"),
        "{text}"
    );
    node.stop().await;
}
