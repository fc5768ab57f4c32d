//! Protocol-level behaviour of the front end: h2c on the shared port,
//! chunked bodies and trailers.

use crate::support;

use support::{Origin, TestNode, reply, test_config};

#[tokio::test]
async fn h2c_requests_hit_the_cache_too() {
    use http_body_util::BodyExt;
    let origin = Origin::start(|_| reply(200, &[("cache-control", "max-age=60")], "over h2")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let client: hyper_util::client::legacy::Client<_, edgecache::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let req = http::Request::get(node.url("/h2"))
            .body(edgecache::body::empty())
            .expect("request");
        let resp = client.request(req).await.expect("h2c response");
        assert_eq!(resp.version(), http::Version::HTTP_2);
        statuses.push(
            resp.headers()
                .get("cache-status")
                .expect("cache-status")
                .to_str()
                .expect("ascii")
                .to_string(),
        );
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], b"over h2");
    }
    assert!(statuses[1].contains("; hit"), "{statuses:?}");
    assert_eq!(origin.count("/h2"), 1);
    node.stop().await;
}

#[tokio::test]
async fn chunked_body_and_trailers_pass_through() {
    use http_body_util::BodyExt;
    let origin = Origin::start(|_| {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-checksum", "abc123".parse().expect("valid"));
        let frames = vec![
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(bytes::Bytes::from_static(
                b"part1-",
            ))),
            Ok(http_body::Frame::data(bytes::Bytes::from_static(b"part2"))),
            Ok(http_body::Frame::trailers(trailers)),
        ];
        let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
        let mut r = http::Response::new(edgecache::body::boxed(body));
        r.headers_mut()
            .insert("trailer", "x-checksum".parse().expect("valid"));
        r.headers_mut()
            .insert("cache-control", "no-store".parse().expect("valid"));
        r
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let client: hyper_util::client::legacy::Client<_, edgecache::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let req = http::Request::get(node.url("/t"))
        .header("te", "trailers")
        .body(edgecache::body::empty())
        .expect("request");
    let resp = client.request(req).await.expect("response");
    assert_eq!(
        resp.headers()
            .get("transfer-encoding")
            .map(|v| v.as_bytes()),
        Some(&b"chunked"[..])
    );
    let collected = resp.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned();
    assert_eq!(&collected.to_bytes()[..], b"part1-part2");
    assert_eq!(
        trailers
            .and_then(|t| t.get("x-checksum").cloned())
            .map(|v| v.as_bytes().to_vec()),
        Some(b"abc123".to_vec())
    );
    assert_eq!(
        origin.seen()[0].headers.get("te").map(|v| v.as_bytes()),
        Some(&b"trailers"[..])
    );
    node.stop().await;
}
