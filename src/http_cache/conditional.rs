//! Answering a client's own conditional request from a stored response
//! (RFC 9111 §4.3.2, evaluated in the order of RFC 9110 §13.2.2).

use super::cached_response::{CachedResponse, http_date};
use super::field_list::members;
use http::header;
use http::{HeaderMap, Method};

/// The result of evaluating the request's preconditions against a stored response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// No precondition, or all passed: send the full response.
    Pass,
    /// Answer 304 Not Modified.
    NotModified,
    /// Answer 412 Precondition Failed.
    Failed,
}

fn etag_matches(list: &[String], etag: Option<&str>, weak: bool) -> bool {
    let Some(etag) = etag else { return false };
    list.iter().any(|m| {
        if m == "*" {
            return true;
        }
        if weak {
            m.trim_start_matches("W/") == etag.trim_start_matches("W/")
        } else {
            !m.starts_with("W/") && !etag.starts_with("W/") && m == etag
        }
    })
}

/// The precondition fields a client may send (RFC 9110 §13.1), the one list
/// the node uses: removed from a cacheable miss's upstream request (the
/// origin then sends the full, storable response) and evaluated here for
/// hits, misses and collapsed followers alike. `If-Range` belongs to Range
/// handling (§13.1.5) and is in [`RANGE_FIELDS`].
pub const PRECONDITION_FIELDS: [header::HeaderName; 4] = [
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
];

/// The request fields that ask for part of a representation (RFC 9110 §14).
pub const RANGE_FIELDS: [header::HeaderName; 2] = [header::RANGE, header::IF_RANGE];

/// Fields a 304 answered by the cache leaves out: they describe a body it
/// does not carry (RFC 9110 §15.4.5).
pub const NOT_IN_304: [header::HeaderName; 4] = [
    header::CONTENT_LENGTH,
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::CONTENT_RANGE,
];

/// Does the request carry any precondition field?
pub fn has_preconditions(request: &HeaderMap) -> bool {
    PRECONDITION_FIELDS.iter().any(|h| request.contains_key(h))
}

/// Does the request ask for a range?
pub fn has_range(request: &HeaderMap) -> bool {
    RANGE_FIELDS.iter().any(|h| request.contains_key(h))
}

/// Remove the client's precondition fields from a request bound upstream.
pub fn remove_preconditions(request: &mut HeaderMap) {
    for h in &PRECONDITION_FIELDS {
        request.remove(h);
    }
}

/// Evaluate If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since.
pub fn evaluate(method: &Method, request: &HeaderMap, stored: &CachedResponse) -> Precondition {
    // The common case, checked without parsing the stored validators.
    if !has_preconditions(request) {
        return Precondition::Pass;
    }
    let etag = stored
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok());
    let last_modified = stored
        .headers
        .get(header::LAST_MODIFIED)
        .and_then(http_date)
        .or_else(|| stored.date());
    if request.contains_key(header::IF_MATCH) {
        if !etag_matches(&members(request, header::IF_MATCH), etag, false) {
            return Precondition::Failed;
        }
    } else if let Some(ius) = request.get(header::IF_UNMODIFIED_SINCE).and_then(http_date)
        && last_modified.is_none_or(|lm| lm > ius)
    {
        return Precondition::Failed;
    }
    let get_or_head = method == Method::GET || method == Method::HEAD;
    if request.contains_key(header::IF_NONE_MATCH) {
        if etag_matches(&members(request, header::IF_NONE_MATCH), etag, true) {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if get_or_head
        && let Some(ims) = request.get(header::IF_MODIFIED_SINCE).and_then(http_date)
        && last_modified.is_some_and(|lm| lm <= ims)
    {
        return Precondition::NotModified;
    }
    Precondition::Pass
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> CachedResponse {
        crate::http_cache::test_support::cached(&[
            ("etag", "\"v1\""),
            ("last-modified", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ])
    }

    /// RFC 9110 §13.1 preconditions and §13.2.2 evaluation order.
    #[test]
    fn evaluates_preconditions() {
        use Precondition::*;
        let cases: &[(&[(&str, &str)], Precondition)] = &[
            (&[], Pass),
            (&[("if-none-match", "\"v1\"")], NotModified),
            (&[("if-none-match", "W/\"v1\"")], NotModified),
            (&[("if-none-match", "\"x\", \"v1\"")], NotModified),
            (&[("if-none-match", "*")], NotModified),
            (&[("if-none-match", "\"v2\"")], Pass),
            (
                &[
                    ("if-none-match", "\"v2\""),
                    ("if-modified-since", "Tue, 14 Nov 2023 22:13:20 GMT"),
                ],
                Pass,
            ),
            (
                &[("if-modified-since", "Tue, 14 Nov 2023 22:13:20 GMT")],
                NotModified,
            ),
            (
                &[("if-modified-since", "Tue, 14 Nov 2023 22:13:19 GMT")],
                Pass,
            ),
            (&[("if-modified-since", "garbage")], Pass),
            (&[("if-match", "\"v1\"")], Pass),
            (&[("if-match", "\"v2\"")], Failed),
            (&[("if-match", "W/\"v1\"")], Failed),
            (
                &[("if-unmodified-since", "Tue, 14 Nov 2023 22:13:19 GMT")],
                Failed,
            ),
            (
                &[("if-unmodified-since", "Tue, 14 Nov 2023 22:13:21 GMT")],
                Pass,
            ),
        ];
        for (fields, want) in cases {
            let h = crate::http_cache::test_support::headers(fields);
            assert_eq!(evaluate(&Method::GET, &h, &stored()), *want, "{fields:?}");
        }
    }
}
