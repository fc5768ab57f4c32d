//! Content-coding negotiation tables (RFC 9110 §8.4, §12.5.3).

use super::Coding::{Br, Gzip, Identity, Zstd};
use super::*;

/// The node's default order of preference.
const BY_PREFERENCE: [Coding; 4] = [Br, Zstd, Gzip, Identity];

/// RFC 9110 §12.5.3 with q-values (§12.4.2), `*`, `identity;q=0`.
#[test]
fn negotiates_accept_encoding() {
    let cases: &[(Option<&str>, &[Coding], Option<Coding>)] = &[
        // No field: anything goes; identity is the safe pick.
        (None, &BY_PREFERENCE, Some(Identity)),
        (None, &[Gzip], Some(Gzip)),
        // An empty field: identity only.
        (Some(""), &BY_PREFERENCE, Some(Identity)),
        (Some(""), &[Gzip], None),
        (Some("gzip"), &BY_PREFERENCE, Some(Gzip)),
        (Some("x-gzip"), &BY_PREFERENCE, Some(Gzip)),
        (Some("GZIP, br"), &BY_PREFERENCE, Some(Br)),
        (Some("gzip, deflate, br, zstd"), &BY_PREFERENCE, Some(Br)),
        (
            Some("gzip, deflate, br, zstd"),
            &[Zstd, Gzip, Identity],
            Some(Zstd),
        ),
        (Some("br;q=0.5, gzip"), &BY_PREFERENCE, Some(Gzip)),
        (Some("br;q=1.0, gzip;q=0.999"), &BY_PREFERENCE, Some(Br)),
        (Some("zstd;q=0.8, br;q=0.2"), &BY_PREFERENCE, Some(Zstd)),
        // Identity ranks below anything asked for, unless weighted.
        (Some("gzip;q=0.1"), &BY_PREFERENCE, Some(Gzip)),
        (
            Some("gzip;q=0.1, identity;q=0.5"),
            &BY_PREFERENCE,
            Some(Identity),
        ),
        (Some("deflate"), &BY_PREFERENCE, Some(Identity)),
        // Excluded.
        (Some("gzip;q=0"), &[Gzip, Identity], Some(Identity)),
        (Some("identity;q=0"), &[Identity], None),
        (Some("identity;q=0, gzip"), &[Gzip, Identity], Some(Gzip)),
        (Some("*;q=0"), &[Gzip, Identity], None),
        (Some("*;q=0, identity"), &[Gzip, Identity], Some(Identity)),
        (Some("*"), &BY_PREFERENCE, Some(Br)),
        (Some("*, br;q=0"), &BY_PREFERENCE, Some(Zstd)),
        (Some("gzip, *;q=0"), &BY_PREFERENCE, Some(Gzip)),
        // Malformed q: the member is ignored.
        (Some("br;q=2, gzip"), &BY_PREFERENCE, Some(Gzip)),
        (Some("br;q=0.0001"), &BY_PREFERENCE, Some(Identity)),
        (Some("br ; q=0.3 , gzip ; q=0.2"), &BY_PREFERENCE, Some(Br)),
    ];
    for (accept, available, want) in cases {
        assert_eq!(
            negotiate(*accept, available),
            *want,
            "{accept:?} {available:?}"
        );
    }
}

/// §8.4: a stored response's Content-Encoding, one known coding or none.
#[test]
fn reads_the_stored_coding() {
    use crate::http_cache::test_support::headers;
    let cases: &[(&[(&str, &str)], Option<Coding>)] = &[
        (&[], Some(Identity)),
        (&[("content-encoding", "gzip")], Some(Gzip)),
        (&[("content-encoding", "BR")], Some(Br)),
        (&[("content-encoding", "identity")], Some(Identity)),
        (&[("content-encoding", "deflate")], None),
        (&[("content-encoding", "gzip, br")], None),
    ];
    for (fields, want) in cases {
        assert_eq!(stored_coding(&headers(fields)), *want, "{fields:?}");
    }
}

#[test]
fn matches_compressible_types() {
    let types: Vec<String> = ["text/*", "application/*+json", "application/json"]
        .map(String::from)
        .to_vec();
    let cases = [
        ("text/html; charset=utf-8", true),
        ("TEXT/CSS", true),
        ("application/json", true),
        ("application/ld+json", true),
        ("application/octet-stream", false),
        ("image/png", false),
        ("textual/x", false),
    ];
    for (ct, want) in cases {
        let v = HeaderValue::from_static(ct);
        assert_eq!(compressible(Some(&v), &types), want, "{ct}");
    }
    assert!(!compressible(None, &types));
}

/// RFC 9110 §8.8.1: a transformed representation gets its own weak ETag.
#[test]
fn suffixes_and_weakens_etags() {
    let cases = [
        ("\"abc\"", Gzip, Some("W/\"abc-gzip\"")),
        ("W/\"abc\"", Br, Some("W/\"abc-br\"")),
        ("\"\"", Identity, Some("W/\"-identity\"")),
        ("abc", Zstd, None),
    ];
    for (etag, coding, want) in cases {
        let got = transformed_etag(&HeaderValue::from_static(etag), coding);
        assert_eq!(got.as_ref().and_then(|v| v.to_str().ok()), want, "{etag}");
    }
}

/// A form's key changes with the stored copy it was made from.
#[test]
fn form_keys_follow_the_stored_copy() {
    use crate::http_cache::test_support::cached;
    let parent = ObjectKey::derive(&[b"p"]);
    let base = cached(&[("etag", "\"a\"")]);
    let k = form_key(&parent, &base, Gzip);
    assert_eq!(k, form_key(&parent, &base.clone(), Gzip));
    assert_ne!(k, form_key(&parent, &base, Br));
    assert_ne!(k, form_key(&ObjectKey::derive(&[b"q"]), &base, Gzip));
    let mut purged = base.clone();
    purged.purge_seq = 7;
    let mut later = base.clone();
    later.response_time += std::time::Duration::from_millis(1);
    let changed = cached(&[("etag", "\"b\"")]);
    for other in [purged, later, changed] {
        assert_ne!(k, form_key(&parent, &other, Gzip));
    }
}

/// RFC 9111 §5.2.2.6 and §5.2.1.6.
#[test]
fn reads_no_transform_and_adds_vary() {
    use crate::http_cache::test_support::headers;
    assert!(no_transform(&headers(&[(
        "cache-control",
        "max-age=5, no-transform"
    )])));
    assert!(!no_transform(&headers(&[("cache-control", "max-age=5")])));
    let cases: &[(&[(&str, &str)], &[&str])] = &[
        (&[], &["Accept-Encoding"]),
        (&[("vary", "accept-encoding")], &["accept-encoding"]),
        (&[("vary", "Origin")], &["Origin", "Accept-Encoding"]),
        (&[("vary", "*")], &["*"]),
    ];
    for (fields, want) in cases {
        let mut h = headers(fields);
        vary_on_accept_encoding(&mut h);
        let got: Vec<_> = h.get_all(header::VARY).iter().collect();
        assert_eq!(got, *want, "{fields:?}");
    }
}
