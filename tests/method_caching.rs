//! Responses to POST that name their own URI in Content-Location, with
//! explicit freshness, serve later GETs (RFC 9110 §9.3.3).

use crate::support;

use support::{Origin, TestNode, get, reply, send, test_config};

#[tokio::test]
async fn post_response_with_own_content_location_serves_later_gets() {
    let origin = Origin::start(|seen| match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", "/own") => reply(
            200,
            &[
                ("cache-control", "max-age=60"),
                ("content-location", "/own"),
            ],
            "from post",
        ),
        ("POST", _) => reply(
            200,
            &[
                ("cache-control", "max-age=60"),
                ("content-location", "/elsewhere"),
            ],
            "other post",
        ),
        _ => reply(200, &[("cache-control", "max-age=60")], "from get"),
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;

    assert_eq!(
        send("POST", &node.url("/own"), &[]).await.text(),
        "from post"
    );
    let got = get(&node.url("/own")).await;
    assert_eq!(got.text(), "from post");
    assert!(
        got.cache_status().contains("; hit"),
        "{}",
        got.cache_status()
    );

    assert_eq!(
        send("POST", &node.url("/not-own"), &[]).await.text(),
        "other post"
    );
    let got = get(&node.url("/not-own")).await;
    assert_eq!(
        got.text(),
        "from get",
        "a POST response about another URI is not reused"
    );
    node.stop().await;
}
