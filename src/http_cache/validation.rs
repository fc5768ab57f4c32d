//! Revalidating a stored response with the origin (RFC 9111 §4.3.1) and
//! freshening it from a 304 (§4.3.3, §4.3.4, header update rules of §3.2).

use super::age;
use super::cached_response::{CachedResponse, http_date};
use super::policy::SetCookie;
use super::storable::SET_COOKIE_FIELDS;
use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};
use std::time::SystemTime;

/// Validators to send upstream for `stored` (§4.3.1): its ETag as
/// If-None-Match, and its Last-Modified as If-Modified-Since.
pub fn conditional_headers(stored: &CachedResponse) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    let etags: Vec<&HeaderValue> = stored.headers.get_all(header::ETAG).iter().collect();
    if let Some(etag) = etags.first() {
        out.push((header::IF_NONE_MATCH, (*etag).clone()));
    }
    if let Some(lm) = stored.headers.get(header::LAST_MODIFIED)
        && http_date(lm).is_some()
    {
        out.push((header::IF_MODIFIED_SINCE, lm.clone()));
    }
    out
}

/// Does this 304 apply to `stored`? (§4.3.4: a strong validator in the 304
/// selects responses with that validator; with none, the one stored response.)
pub fn selects(stored: &CachedResponse, not_modified: &HeaderMap) -> bool {
    match not_modified.get(header::ETAG) {
        Some(etag) => {
            let theirs = etag.as_bytes();
            match stored.headers.get(header::ETAG) {
                // Weak comparison: the 304 may carry W/ where we stored it strong.
                Some(ours) => strip_weak(ours.as_bytes()) == strip_weak(theirs),
                None => false,
            }
        }
        None => match (
            not_modified.get(header::LAST_MODIFIED),
            stored.headers.get(header::LAST_MODIFIED),
        ) {
            (Some(a), Some(b)) => http_date(a) == http_date(b),
            _ => true,
        },
    }
}

/// §4.3.5: may a 200 response to HEAD freshen `stored` (whose body is
/// `body_len` bytes)? Every validator the HEAD response carries must match,
/// and so must its Content-Length when present; otherwise the stored
/// response is out of date.
pub fn head_matches(stored: &CachedResponse, body_len: u64, head: &HeaderMap) -> bool {
    let same = |name: header::HeaderName| match head.get(&name) {
        None => true,
        Some(v) => stored
            .headers
            .get(&name)
            .is_some_and(|s| s.as_bytes() == v.as_bytes()),
    };
    let length_ok = match head
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(v) => v.trim().parse::<u64>().ok() == Some(body_len),
    };
    same(header::ETAG) && same(header::LAST_MODIFIED) && length_ok
}

fn strip_weak(e: &[u8]) -> &[u8] {
    e.strip_prefix(b"W/").unwrap_or(e)
}

/// Fields a 304 never changes in a stored response (§3.2): Content-Length,
/// the fields that describe the stored body (its encoding, range, digest and
/// validator), and the fields this cache computes itself.
fn never_updated(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-length"
            | "content-encoding"
            | "content-range"
            | "content-md5"
            | "etag"
            | "age"
            | "cache-status"
    )
}

/// Freshen `stored` with the header fields of a 304 (§3.2, §4.3.4) received
/// for a request sent at `request_time`, at `response_time`.
///
/// A Set-Cookie in the 304 is for the client whose request was revalidated:
/// merged, it would be replayed to everyone. It is merged only under the
/// explicit `rfc9111` cookie policy (plain §3.2, where the stored response's
/// own cookies are replayed to everyone anyway); under `pass` and `strip`
/// never.
pub fn merge_304(
    stored: &CachedResponse,
    not_modified: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
    cookies: SetCookie,
) -> CachedResponse {
    let mut merged = stored.clone();
    let mut replaced: Vec<&HeaderName> = Vec::new();
    for (name, value) in not_modified {
        if never_updated(name)
            || (cookies != SetCookie::Rfc9111 && SET_COOKIE_FIELDS.contains(&name.as_str()))
        {
            continue;
        }
        if !replaced.contains(&name) {
            merged.headers.remove(name);
            replaced.push(name);
        }
        merged.headers.append(name.clone(), value.clone());
    }
    let date = merged.headers.get(header::DATE).and_then(http_date);
    merged.request_time = request_time;
    merged.response_time = response_time;
    merged.initial_age = age::initial_age(
        age::age_value(not_modified),
        date,
        request_time,
        response_time,
    );
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    fn h(fields: &[(&str, &str)]) -> HeaderMap {
        crate::http_cache::test_support::headers(fields)
    }

    fn stored(fields: &[(&str, &str)]) -> CachedResponse {
        CachedResponse {
            status: http::StatusCode::OK,
            headers: h(fields),
            request_time: at(0),
            response_time: at(0),
            initial_age: 0,
            variant: vec![],
            purge_seq: 0,
            surrogate_keys: vec![],
        }
    }

    /// RFC 9111 §4.3.1: send the stored validators.
    #[test]
    fn builds_conditional_request() {
        let lm = "Tue, 14 Nov 2023 22:13:20 GMT";
        let s = stored(&[("etag", "\"abc\""), ("last-modified", lm)]);
        let got: Vec<(String, String)> = conditional_headers(&s)
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_str().expect("ascii").to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("if-none-match".into(), "\"abc\"".into()),
                ("if-modified-since".into(), lm.into())
            ]
        );
        assert!(conditional_headers(&stored(&[])).is_empty());
    }

    /// RFC 9111 §3.2: replace updated fields, keep the rest, never touch Content-Length.
    #[test]
    fn merges_304_headers() {
        let s = stored(&[
            ("etag", "\"a\""),
            ("x-keep", "1"),
            ("x-change", "old"),
            ("content-length", "10"),
            ("x-multi", "a"),
            ("x-multi", "b"),
        ]);
        let nm = h(&[
            ("x-change", "new"),
            ("content-length", "0"),
            ("etag", "\"b\""),
            ("x-new", "n"),
            ("x-multi", "c"),
            ("cache-control", "max-age=9"),
        ]);
        let m = merge_304(&s, &nm, at(5), at(6), SetCookie::Rfc9111);
        let get = |n: &str| {
            m.headers
                .get_all(n)
                .iter()
                .map(|v| v.to_str().expect("ascii").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("x-keep"), vec!["1"]);
        assert_eq!(get("x-change"), vec!["new"]);
        assert_eq!(get("content-length"), vec!["10"]);
        assert_eq!(
            get("etag"),
            vec!["\"a\""],
            "the validator of the stored body is kept"
        );
        assert_eq!(get("x-new"), vec!["n"]);
        assert_eq!(get("x-multi"), vec!["c"]);
        assert_eq!(get("cache-control"), vec!["max-age=9"]);
        assert_eq!(m.response_time, at(6));
        assert_eq!(m.initial_age, 1, "response delay counts towards age");
        // A 304's Set-Cookie is merged only under the explicit rfc9111 policy.
        let stored = CachedResponse {
            headers: h(&[("set-cookie", "a=b")]),
            ..s.clone()
        };
        let cookie = h(&[("set-cookie", "for-one-user")]);
        for (policy, want) in [
            (SetCookie::Pass, "a=b"),
            (SetCookie::Strip, "a=b"),
            (SetCookie::Rfc9111, "for-one-user"),
        ] {
            let m = merge_304(&stored, &cookie, at(5), at(6), policy);
            assert_eq!(
                m.headers.get("set-cookie").expect("kept"),
                want,
                "{policy:?}"
            );
        }
    }

    /// RFC 9111 §4.3.5: a HEAD 200 freshens only when its validators and length agree.
    #[test]
    fn head_response_matching() {
        let s = stored(&[
            ("etag", "\"a\""),
            ("last-modified", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ]);
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], true),
            (&[("etag", "\"a\"")], true),
            (&[("etag", "\"b\"")], false),
            (&[("last-modified", "Tue, 14 Nov 2023 22:13:21 GMT")], false),
            (&[("content-length", "10")], true),
            (&[("content-length", "11")], false),
        ];
        for (fields, want) in cases {
            assert_eq!(head_matches(&s, 10, &h(fields)), *want, "{fields:?}");
        }
    }

    /// RFC 9111 §4.3.4: which stored response a 304 freshens.
    #[test]
    fn selects_by_validator() {
        let s = stored(&[("etag", "\"a\"")]);
        assert!(selects(&s, &h(&[("etag", "\"a\"")])));
        assert!(selects(&s, &h(&[("etag", "W/\"a\"")])));
        assert!(!selects(&s, &h(&[("etag", "\"b\"")])));
        assert!(selects(&s, &h(&[])));
        assert!(!selects(&stored(&[]), &h(&[("etag", "\"a\"")])));
    }
}
