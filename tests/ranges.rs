//! Byte ranges served from a stored complete response (RFC 9110 §14).

use crate::support;

use support::{Origin, TestNode, get, reply, send, test_config};

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
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
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

/// RFC 9111 §3.3: a stored 206 answers the ranges it holds, and only those.
#[tokio::test]
async fn stored_partial_response_serves_ranges_inside_it() {
    let origin = Origin::start(|seen| {
        let full = "0123456789";
        match seen.headers.get("range").and_then(|v| v.to_str().ok()) {
            Some("bytes=5-9") => reply(
                206,
                &[
                    ("cache-control", "max-age=60"),
                    ("content-range", "bytes 5-9/10"),
                ],
                "56789",
            ),
            Some("bytes=0-1") => reply(
                206,
                &[
                    ("cache-control", "max-age=60"),
                    ("content-range", "bytes 0-1/10"),
                ],
                "01",
            ),
            _ => reply(200, &[("cache-control", "max-age=60")], full),
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.cache.range_fill = false; // ranges forwarded as sent: partial responses stored
    let node = TestNode::start(cfg).await;
    let url = node.url("/p");

    let first = send("GET", &url, &[("range", "bytes=5-9")]).await;
    assert_eq!((first.status, first.text().as_str()), (206, "56789"));
    assert!(
        first.cache_status().contains("stored"),
        "{}",
        first.cache_status()
    );

    let inside = send("GET", &url, &[("range", "bytes=6-8")]).await;
    assert_eq!((inside.status, inside.text().as_str()), (206, "678"));
    assert_eq!(inside.header("content-range"), Some("bytes 6-8/10"));
    assert!(
        inside.cache_status().contains("; hit"),
        "{}",
        inside.cache_status()
    );
    assert_eq!(origin.count("/p"), 1);

    let outside = send("GET", &url, &[("range", "bytes=0-1")]).await;
    assert_eq!((outside.status, outside.text().as_str()), (206, "01"));
    assert!(
        outside.cache_status().contains("fwd=partial"),
        "{}",
        outside.cache_status()
    );

    let whole = get(&url).await;
    assert_eq!((whole.status, whole.text().as_str()), (200, "0123456789"));
    assert!(
        whole.cache_status().contains("fwd=partial"),
        "{}",
        whole.cache_status()
    );
    let again = send("GET", &url, &[("range", "bytes=0-1")]).await;
    assert!(
        again.cache_status().contains("; hit"),
        "the full response now answers any range: {}",
        again.cache_status()
    );
    assert_eq!(origin.count("/p"), 3);
    node.stop().await;
}

/// Hit-for-pass never hides a stored response: an uncacheable full response
/// for a URL with a stored partial one leaves the partial one in use.
#[tokio::test]
async fn an_uncacheable_full_response_leaves_the_stored_partial_in_use() {
    let origin =
        Origin::start(
            |seen| match seen.headers.get("range").and_then(|v| v.to_str().ok()) {
                Some("bytes=5-9") => reply(
                    206,
                    &[
                        ("cache-control", "max-age=60"),
                        ("content-range", "bytes 5-9/10"),
                    ],
                    "56789",
                ),
                _ => reply(200, &[("cache-control", "no-store")], "0123456789"),
            },
        )
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url(), dir.path());
    cfg.cache.range_fill = false; // ranges forwarded as sent: partial responses stored
    let node = TestNode::start(cfg).await;
    let url = node.url("/hp");

    let first = send("GET", &url, &[("range", "bytes=5-9")]).await;
    assert!(
        first.cache_status().contains("stored"),
        "{}",
        first.cache_status()
    );
    let whole = get(&url).await;
    assert_eq!((whole.status, whole.text().as_str()), (200, "0123456789"));
    assert!(
        whole.cache_status().contains("fwd=partial"),
        "{}",
        whole.cache_status()
    );

    let inside = send("GET", &url, &[("range", "bytes=6-8")]).await;
    assert_eq!((inside.status, inside.text().as_str()), (206, "678"));
    assert!(
        inside.cache_status().contains("; hit"),
        "{}",
        inside.cache_status()
    );
    assert_eq!(origin.count("/hp"), 2);
    node.stop().await;
}

/// The range cap (src/http_cache/range.rs, `MAX_RANGES` = 32): a request
/// for 32 disjoint ranges gets a 206 multipart/byteranges with 32 parts;
/// one for 33 disjoint ranges gets the whole representation as a 200 (RFC
/// 9110 §14.2 lets a server ignore Range). Ranges are counted after
/// overlapping and adjacent ones are merged: 33 specs that merge into
/// fewer parts are still served as ranges.
#[tokio::test]
async fn more_than_32_ranges_get_the_whole_representation() {
    let body: String = (0..100)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect();
    let stored = body.clone();
    let origin = Origin::start(move |_| {
        reply(
            200,
            &[
                ("cache-control", "max-age=60"),
                ("content-type", "text/plain"),
            ],
            stored.clone(),
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let url = node.url("/many");
    assert_eq!(get(&url).await.text(), body);
    // `n` one-byte ranges with a byte between each: none merge.
    let disjoint = |n: usize| {
        let specs: Vec<String> = (0..n).map(|i| format!("{0}-{0}", 2 * i)).collect();
        format!("bytes={}", specs.join(","))
    };
    let parts = |got: &support::Got| {
        got.text()
            .to_ascii_lowercase()
            .matches("content-range: bytes ")
            .count()
    };

    let at_cap = send("GET", &url, &[("range", &disjoint(32))]).await;
    assert_eq!(at_cap.status, 206, "{}", at_cap.cache_status());
    assert!(
        at_cap
            .header("content-type")
            .is_some_and(|t| t.starts_with("multipart/byteranges")),
        "{:?}",
        at_cap.header("content-type")
    );
    assert_eq!(parts(&at_cap), 32, "{}", at_cap.text());
    assert!(at_cap.text().contains("content-range: bytes 62-62/100"));

    let over_cap = send("GET", &url, &[("range", &disjoint(33))]).await;
    assert_eq!(over_cap.status, 200, "{}", over_cap.cache_status());
    assert_eq!(over_cap.header("content-range"), None);
    assert_eq!(over_cap.text(), body, "the whole representation");

    // 33 specs, one repeated: 32 parts after merging.
    let merged = format!("{},0-0", disjoint(32));
    let got = send("GET", &url, &[("range", &merged)]).await;
    assert_eq!(got.status, 206);
    assert_eq!(parts(&got), 32, "{}", got.text());
    assert_eq!(
        origin.count("/many"),
        1,
        "all answered from the stored copy"
    );
    node.stop().await;
}
