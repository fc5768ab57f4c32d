//! One stored copy, every encoding: a real node in front of a recording
//! origin on 127.0.0.1:0. Clients asking for gzip, br, zstd and identity
//! share one origin fetch; each body decodes to the origin's bytes; the
//! transformed forms carry their own weak ETags, honour no-transform and
//! go with a purge of their stored copy. (docs/encodings.md)

use crate::support;

use edgecache::config::{Config, TokenConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::coded_body::{decoded, gzip, varies_on_accept_encoding};
use support::{Got, Origin, TestNode, admin, reply, send, test_config};

const TOKEN: &str = "operator-token-0123456789";

fn config(origin: &str, dir: &std::path::Path) -> Config {
    let mut cfg = test_config(origin, dir);
    cfg.admin.tokens = vec![TokenConfig {
        token: TOKEN.into(),
        hosts: vec!["*".into()],
    }];
    cfg
}

/// A page worth compressing, different per version.
fn page(version: usize) -> String {
    format!("<p>version {version}</p>\n").repeat(300)
}

async fn get_with(node: &TestNode, path: &str, headers: &[(&str, &str)]) -> Got {
    send("GET", &node.url(path), headers).await
}

/// An origin serving `page(n)` as text/html, `n` counting up from 1 after
/// every purge (`bump`), tagged `k`.
async fn page_origin(version: Arc<AtomicUsize>) -> Origin {
    Origin::start(move |_| {
        let v = version.load(Ordering::SeqCst);
        reply(
            200,
            &[
                ("content-type", "text/html; charset=utf-8"),
                ("cache-control", "max-age=600"),
                ("etag", &format!("\"v{v}\"")),
                ("surrogate-key", "k"),
            ],
            page(v),
        )
    })
    .await
}

#[tokio::test]
async fn every_encoding_is_served_from_one_origin_fetch() {
    let origin = page_origin(Arc::new(AtomicUsize::new(1))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let cases: &[(&[(&str, &str)], Option<&str>, &str)] = &[
        (
            &[("accept-encoding", "gzip")],
            Some("gzip"),
            "W/\"v1-gzip\"",
        ),
        (&[("accept-encoding", "br")], Some("br"), "W/\"v1-br\""),
        (
            &[("accept-encoding", "zstd")],
            Some("zstd"),
            "W/\"v1-zstd\"",
        ),
        (&[], None, "\"v1\""),
        (&[("accept-encoding", "identity")], None, "\"v1\""),
        (
            &[("accept-encoding", "gzip;q=0.5, br;q=0.9")],
            Some("br"),
            "W/\"v1-br\"",
        ),
        (&[("accept-encoding", "*;q=0, identity")], None, "\"v1\""),
    ];
    for round in 0..2 {
        for (headers, coding, etag) in cases {
            let got = get_with(&node, "/page", headers).await;
            assert_eq!(got.status, 200, "{headers:?}");
            assert_eq!(got.header("content-encoding"), *coding, "{headers:?}");
            assert_eq!(decoded(&got), page(1).as_bytes(), "{headers:?}");
            assert_eq!(got.header("etag"), Some(*etag), "{headers:?}");
            assert!(varies_on_accept_encoding(&got), "{headers:?}");
            let len: usize = got
                .header("content-length")
                .expect("length")
                .parse()
                .expect("n");
            assert_eq!(len, got.body.len(), "{headers:?}");
            if coding.is_some() {
                assert!(got.body.len() < page(1).len() / 4, "{headers:?} compressed");
            }
            if round == 1 {
                assert!(
                    got.cache_status().contains("; hit"),
                    "{}",
                    got.cache_status()
                );
            }
        }
    }
    assert_eq!(
        origin.count("/page"),
        1,
        "one origin fetch for every encoding"
    );
    let seen = origin.seen();
    assert_eq!(
        seen[0].headers.get("accept-encoding").map(|v| v.as_bytes()),
        Some(&b"identity"[..]),
        "the node asks the origin for its own choice"
    );
    node.stop().await;
}

#[tokio::test]
async fn origin_gzip_only_is_decoded_for_identity_clients() {
    // Numbers compress less than a repeated line: the gzip body stays
    // above `min_bytes`, so the node also makes br from it.
    let plain: String = (0..3000)
        .map(|i| format!("{},", i * 7919 % 10007))
        .collect();
    let encoded = gzip(plain.as_bytes());
    let body = encoded.clone();
    let origin = Origin::start(move |_| {
        reply(
            200,
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
                ("cache-control", "max-age=600"),
                ("etag", "\"z\""),
            ],
            body.clone(),
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    // The first client (a miss) cannot read gzip: decoded on fill.
    let first = get_with(&node, "/j", &[("accept-encoding", "identity")]).await;
    assert_eq!(first.header("content-encoding"), None);
    assert_eq!(first.body, plain.as_bytes());
    assert_eq!(first.header("etag"), Some("W/\"z-identity\""));
    let none = get_with(&node, "/j", &[]).await;
    assert_eq!(
        (none.header("content-encoding"), &none.body[..]),
        (None, plain.as_bytes())
    );
    // A gzip client gets the origin's own bytes.
    let gz = get_with(&node, "/j", &[("accept-encoding", "gzip, br;q=0.1")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(&gz.body[..], &encoded[..]);
    assert_eq!(gz.header("etag"), Some("\"z\""));
    let br = get_with(&node, "/j", &[("accept-encoding", "br")]).await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(decoded(&br), plain.as_bytes());
    assert_eq!(origin.count("/j"), 1);
    node.stop().await;
}

#[tokio::test]
async fn no_transform_is_honoured() {
    let origin = Origin::start(|seen| {
        let cc = if seen.path == "/nt" {
            "max-age=600, no-transform"
        } else {
            "max-age=600"
        };
        reply(
            200,
            &[("content-type", "text/plain"), ("cache-control", cc)],
            page(1),
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    for _ in 0..2 {
        let got = get_with(&node, "/nt", &[("accept-encoding", "gzip, br")]).await;
        assert_eq!(
            got.header("content-encoding"),
            None,
            "response no-transform"
        );
        assert_eq!(got.body, page(1).as_bytes());
    }
    // A request's no-transform (RFC 9111 §5.2.1.6) gets the stored form.
    let asked = [
        ("accept-encoding", "gzip"),
        ("cache-control", "no-transform"),
    ];
    let got = get_with(&node, "/t", &asked).await;
    assert_eq!(got.header("content-encoding"), None, "request no-transform");
    assert_eq!(got.body, page(1).as_bytes());
    let got = get_with(&node, "/t", &[("accept-encoding", "gzip")]).await;
    assert_eq!(got.header("content-encoding"), Some("gzip"));
    assert_eq!((origin.count("/nt"), origin.count("/t")), (1, 1));
    node.stop().await;
}

#[tokio::test]
async fn transformed_etags_answer_conditional_requests() {
    let origin = page_origin(Arc::new(AtomicUsize::new(1))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let gz = get_with(&node, "/c", &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.header("etag"), Some("W/\"v1-gzip\""));
    let cases: &[(&str, &str, u16)] = &[
        ("gzip", "W/\"v1-gzip\"", 304),
        ("gzip", "\"v1-gzip\"", 304),
        ("gzip", "\"v1\"", 200),
        ("br", "W/\"v1-gzip\"", 200),
        ("identity", "\"v1\"", 304),
        ("identity", "W/\"v1-gzip\"", 200),
    ];
    for (ae, inm, want) in cases {
        let got = get_with(
            &node,
            "/c",
            &[("accept-encoding", ae), ("if-none-match", inm)],
        )
        .await;
        assert_eq!(got.status, *want, "{ae} {inm}");
        assert!(varies_on_accept_encoding(&got), "{ae} {inm}");
        if *want == 304 {
            assert!(got.body.is_empty());
        }
    }
    // If-Match is a strong comparison: a weak transformed ETag never matches.
    let got = get_with(
        &node,
        "/c",
        &[("accept-encoding", "gzip"), ("if-match", "W/\"v1-gzip\"")],
    )
    .await;
    assert_eq!(got.status, 412);
    assert_eq!(origin.count("/c"), 1);
    node.stop().await;
}

#[tokio::test]
async fn a_purge_removes_the_encoded_forms_too() {
    let version = Arc::new(AtomicUsize::new(1));
    let origin = page_origin(version.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    for ae in ["gzip", "br", "zstd"] {
        let got = get_with(&node, "/p", &[("accept-encoding", ae)]).await;
        assert_eq!(decoded(&got), page(1).as_bytes(), "{ae}");
    }
    version.store(2, Ordering::SeqCst);
    let (status, json) = admin(node.admin_addr, "/purge/key/k", Some(TOKEN), &[], "").await;
    assert_eq!(status, 200, "{json}");
    for ae in ["gzip", "br", "zstd", "identity"] {
        let got = get_with(&node, "/p", &[("accept-encoding", ae)]).await;
        assert_eq!(decoded(&got), page(2).as_bytes(), "{ae} after the purge");
        assert!(got.header("etag").is_some_and(|e| e.contains("v2")), "{ae}");
    }
    assert_eq!(
        origin.count("/p"),
        2,
        "one fetch before and one after the purge"
    );
    node.stop().await;
}

#[tokio::test]
async fn non_compressible_and_small_bodies_are_untouched() {
    let png = vec![0x89u8; 4096];
    let body = png.clone();
    let origin = Origin::start(move |seen| match seen.path.as_str() {
        "/img" => reply(
            200,
            &[
                ("content-type", "image/png"),
                ("cache-control", "max-age=600"),
            ],
            body.clone(),
        ),
        _ => reply(
            200,
            &[
                ("content-type", "text/plain"),
                ("cache-control", "max-age=600"),
            ],
            "tiny",
        ),
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    for _ in 0..2 {
        let img = get_with(&node, "/img", &[("accept-encoding", "gzip, br, zstd")]).await;
        assert_eq!(img.header("content-encoding"), None);
        assert_eq!(&img.body[..], &png[..]);
        assert!(!varies_on_accept_encoding(&img), "an image does not vary");
        let tiny = get_with(&node, "/tiny", &[("accept-encoding", "gzip")]).await;
        assert_eq!(
            (tiny.header("content-encoding"), tiny.text().as_str()),
            (None, "tiny")
        );
        // Below min_bytes no form is ever made, so the response does not vary.
        assert!(
            !varies_on_accept_encoding(&tiny),
            "a tiny body does not vary"
        );
    }
    assert_eq!((origin.count("/img"), origin.count("/tiny")), (1, 1));
    node.stop().await;
}

#[tokio::test]
async fn ranges_are_served_from_the_stored_form() {
    let origin = page_origin(Arc::new(AtomicUsize::new(1))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    get_with(&node, "/r", &[("accept-encoding", "gzip")]).await;
    let got = get_with(
        &node,
        "/r",
        &[("accept-encoding", "gzip"), ("range", "bytes=0-9")],
    )
    .await;
    assert_eq!(got.status, 206);
    assert_eq!(got.header("content-encoding"), None);
    assert_eq!(&got.body[..], &page(1).as_bytes()[..10]);
    assert_eq!(origin.count("/r"), 1);
    node.stop().await;
}

#[tokio::test]
async fn a_zip_bomb_is_passed_through_not_decoded() {
    let bomb = gzip(&vec![0u8; 16 << 20]);
    let body = bomb.clone();
    let origin = Origin::start(move |_| {
        reply(
            200,
            &[
                ("content-type", "text/plain"),
                ("content-encoding", "gzip"),
                ("cache-control", "max-age=600"),
            ],
            body.clone(),
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    for _ in 0..2 {
        let got = get_with(&node, "/bomb", &[("accept-encoding", "identity")]).await;
        assert_eq!(got.status, 200);
        assert_eq!(
            got.header("content-encoding"),
            Some("gzip"),
            "the origin's bytes"
        );
        assert_eq!(&got.body[..], &bomb[..]);
    }
    assert_eq!(origin.count("/bomb"), 1);
    node.stop().await;
}

#[tokio::test]
async fn a_site_can_turn_negotiation_off() {
    let origin = page_origin(Arc::new(AtomicUsize::new(1))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&origin.url(), dir.path());
    cfg.compression.enabled = false;
    let node = TestNode::start(cfg).await;
    let got = get_with(&node, "/off", &[("accept-encoding", "gzip")]).await;
    assert_eq!(got.header("content-encoding"), None);
    assert!(!varies_on_accept_encoding(&got));
    let seen = origin.seen();
    assert_eq!(
        seen[0].headers.get("accept-encoding").map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    node.stop().await;
}

#[tokio::test]
async fn a_revalidated_copy_is_served_in_the_clients_coding() {
    let origin = Origin::start(|seen| match seen.headers.get("if-none-match") {
        Some(_) => reply(
            304,
            &[("etag", "\"v1\""), ("cache-control", "max-age=0")],
            "",
        ),
        None => reply(
            200,
            &[
                ("content-type", "text/css"),
                ("etag", "\"v1\""),
                ("cache-control", "max-age=0"),
            ],
            page(1),
        ),
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    for _ in 0..2 {
        let got = get_with(&node, "/s", &[("accept-encoding", "zstd")]).await;
        assert_eq!(
            (got.status, got.header("content-encoding")),
            (200, Some("zstd"))
        );
        assert_eq!(got.header("etag"), Some("W/\"v1-zstd\""));
        assert_eq!(decoded(&got), page(1).as_bytes());
    }
    assert_eq!(origin.count("/s"), 2, "a fetch, then a revalidation");
    node.stop().await;
}
