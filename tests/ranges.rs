//! Byte ranges served from a stored complete response (RFC 9110 §14).

mod support;

use support::{Node, Origin, get, reply, send, test_config};

#[tokio::test]
async fn ranges_are_served_from_the_stored_full_response() {
    let origin = Origin::start(|_| {
        reply(
            200,
            &[
                ("cache-control", "max-age=60"),
                ("etag", "\"r1\""),
                ("content-type", "text/plain"),
            ],
            "0123456789",
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(test_config(&origin.url(), dir.path())).await;
    let url = node.url("/r");
    assert_eq!(get(&url).await.text(), "0123456789");

    // (Range, If-Range, status, Content-Range, body)
    let cases: &[(&str, Option<&str>, u16, Option<&str>, &str)] = &[
        ("bytes=0-1", None, 206, Some("bytes 0-1/10"), "01"),
        ("bytes=7-", None, 206, Some("bytes 7-9/10"), "789"),
        ("bytes=-3", None, 206, Some("bytes 7-9/10"), "789"),
        ("bytes=20-", None, 416, Some("bytes */10"), ""),
        ("bytes=x-y", None, 200, None, "0123456789"),
        ("bytes=0-1", Some("\"r1\""), 206, Some("bytes 0-1/10"), "01"),
        ("bytes=0-1", Some("\"other\""), 200, None, "0123456789"),
    ];
    for (range, if_range, status, content_range, body) in cases {
        let mut fields = vec![("range", *range)];
        if let Some(ir) = if_range {
            fields.push(("if-range", ir));
        }
        let got = send("GET", &url, &fields).await;
        assert_eq!(got.status, *status, "{range} {if_range:?}");
        assert_eq!(
            got.header("content-range"),
            *content_range,
            "{range} {if_range:?}"
        );
        assert_eq!(got.text(), *body, "{range} {if_range:?}");
        assert!(
            got.cache_status().contains("; hit"),
            "{range}: {}",
            got.cache_status()
        );
    }

    let multi = send("GET", &url, &[("range", "bytes=0-0,8-9")]).await;
    assert_eq!(multi.status, 206);
    let ct = multi
        .header("content-type")
        .expect("content-type")
        .to_string();
    let boundary = ct.split("boundary=").nth(1).expect("boundary");
    let text = multi.text();
    assert!(ct.starts_with("multipart/byteranges"), "{ct}");
    assert!(
        text.contains("content-range: bytes 0-0/10\r\n\r\n0\r\n"),
        "{text}"
    );
    assert!(
        text.contains("content-range: bytes 8-9/10\r\n\r\n89\r\n"),
        "{text}"
    );
    assert!(text.ends_with(&format!("--{boundary}--\r\n")), "{text}");
    assert_eq!(origin.count("/r"), 1, "every range came from the cache");
    node.stop().await;
}
