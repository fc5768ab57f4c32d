//! Serving byte ranges from a stored complete response (RFC 9110 §14:
//! Range, If-Range, 206 and 416).

use super::cached_response::{CachedResponse, http_date};
use http::{HeaderMap, Method, StatusCode, header};

/// Most ranges served in one multipart response; a request for more gets
/// the whole representation (RFC 9110 §14.2 lets a server ignore Range).
const MAX_RANGES: usize = 32;

/// What to send for a request's Range field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No (applicable) Range: the whole representation.
    Full,
    /// 206 with these inclusive byte ranges (one: a single part; more: multipart/byteranges).
    Partial(Vec<(u64, u64)>),
    /// 416 Range Not Satisfiable.
    Unsatisfiable,
}

/// Decide how to answer `request`'s Range for a stored response of `len` bytes.
pub fn answer(
    method: &Method,
    request: &HeaderMap,
    stored: &CachedResponse,
    len: u64,
) -> RangeAnswer {
    answer_for(method, request, stored.status, &stored.headers, len)
}

/// [`answer`] for a response given by its status and header fields (a
/// response still streaming from the origin).
pub fn answer_for(
    method: &Method,
    request: &HeaderMap,
    status: StatusCode,
    response: &HeaderMap,
    len: u64,
) -> RangeAnswer {
    if method != Method::GET || !matches!(status, StatusCode::OK | StatusCode::PARTIAL_CONTENT) {
        return RangeAnswer::Full;
    }
    let Some(range) = request.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return RangeAnswer::Full;
    };
    if request.contains_key(header::IF_RANGE) && !if_range_matches(request, response) {
        return RangeAnswer::Full;
    }
    match parse(range, len) {
        None => RangeAnswer::Full,
        Some(ranges) if ranges.is_empty() => RangeAnswer::Unsatisfiable,
        Some(ranges) => match coalesce(ranges) {
            ranges if ranges.len() > MAX_RANGES => RangeAnswer::Full,
            ranges => RangeAnswer::Partial(ranges),
        },
    }
}

/// The head fields of a single-part 206 for bytes `[start, end]` of a
/// `len`-byte representation (RFC 9110 §14.4): Content-Range and
/// Content-Length, replacing any there.
pub fn set_part_fields(headers: &mut HeaderMap, start: u64, end: u64, len: u64) {
    if let Ok(v) = header::HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
        headers.insert(header::CONTENT_RANGE, v);
    }
    headers.insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from(end - start + 1),
    );
}

/// The head fields of a 416 for a `len`-byte representation (RFC 9110
/// §15.5.17): `Content-Range: bytes */len` and an empty body.
pub fn set_unsatisfiable_fields(headers: &mut HeaderMap, len: u64) {
    if let Ok(v) = header::HeaderValue::from_str(&format!("bytes */{len}")) {
        headers.insert(header::CONTENT_RANGE, v);
    }
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(0));
}

/// Merge overlapping and adjacent ranges (RFC 9110 §14.2 lets a server
/// coalesce them), so that `bytes=0-,0-,0-,...` can never make a body many
/// times the representation: the answer is at most the representation once.
pub fn coalesce(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// More range specs than this in one field: the field is ignored (RFC 9110
/// §14.2 lets a server ignore a Range with "more than some number" of
/// ranges), so parsing a hostile field costs a bounded amount of work.
pub const MAX_RANGE_SPECS: usize = 100;

/// Which bytes of the representation a stored response holds: `(first byte,
/// complete length)`. A 200 holds all of it; a 206 holds the single range its
/// Content-Range names (RFC 9110 §14.4), which must agree with the body.
/// `None` for a 206 this cache cannot use.
pub fn stored_span(stored: &CachedResponse, body_len: u64) -> Option<(u64, u64)> {
    if stored.status != StatusCode::PARTIAL_CONTENT {
        return Some((0, body_len));
    }
    let cr = stored.headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let (first, last, complete) = parse_content_range(cr)?;
    (last - first + 1 == body_len).then_some((first, complete))
}

/// Parse `bytes first-last/complete` (RFC 9110 §14.4); an unknown complete
/// length (`*`) or an invalid range is `None`.
pub fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, complete) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last, complete): (u64, u64, u64) = (
        first.trim().parse().ok()?,
        last.trim().parse().ok()?,
        complete.trim().parse().ok()?,
    );
    (first <= last && last < complete).then_some((first, last, complete))
}

/// Can `stored` (holding `body_len` bytes) answer this request by itself?
/// Always for a complete response; for a partial one only when every
/// requested range lies inside the bytes it holds.
pub fn covers(
    method: &Method,
    request: &HeaderMap,
    stored: &CachedResponse,
    body_len: u64,
) -> bool {
    let Some((first, complete)) = stored_span(stored, body_len) else {
        return false;
    };
    if stored.status != StatusCode::PARTIAL_CONTENT {
        return true;
    }
    match answer(method, request, stored, complete) {
        RangeAnswer::Partial(ranges) => ranges
            .iter()
            .all(|&(s, e)| s >= first && e < first + body_len),
        _ => false,
    }
}

/// RFC 9110 §13.1.5: If-Range holds a strong entity-tag that must equal the
/// stored one, or an HTTP-date that must equal the stored Last-Modified.
fn if_range_matches(request: &HeaderMap, stored: &HeaderMap) -> bool {
    let Some(v) = request.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(v) = v.to_str() else { return false };
    let v = v.trim();
    if v.starts_with('"') || v.starts_with("W/") {
        return !v.starts_with("W/")
            && stored
                .get(header::ETAG)
                .and_then(|e| e.to_str().ok())
                .is_some_and(|e| e == v);
    }
    match (
        super::http_date::parse(v),
        stored.get(header::LAST_MODIFIED).and_then(http_date),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Parse a `bytes=` range set against a representation of `len` bytes.
/// `None` when the field is not a valid byte range set (then it is ignored);
/// `Some(empty)` when it is valid but no range is satisfiable.
pub fn parse(value: &str, len: u64) -> Option<Vec<(u64, u64)>> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut out = Vec::new();
    for (i, spec) in set
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        if i >= MAX_RANGE_SPECS {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let (first, last) = (first.trim(), last.trim());
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if first.is_empty() {
            // suffix-range: the last N bytes.
            if !digits(last) {
                return None;
            }
            let n: u64 = last.parse().unwrap_or(u64::MAX);
            if n > 0 && len > 0 {
                out.push((len.saturating_sub(n), len - 1));
            }
            continue;
        }
        if !digits(first) || !(last.is_empty() || digits(last)) {
            return None;
        }
        let start: u64 = first.parse().ok()?;
        let end: u64 = if last.is_empty() {
            u64::MAX
        } else {
            last.parse().unwrap_or(u64::MAX)
        };
        if end < start {
            return None;
        }
        if start < len {
            out.push((start, end.min(len - 1)));
        }
    }
    Some(out)
}

/// The body of a multipart/byteranges response (RFC 9110 §14.6): each part
/// is `(first, last, bytes)` of a `len`-byte representation, labelled with
/// `content_type`.
pub fn multipart(
    parts: &[(u64, u64, bytes::Bytes)],
    len: u64,
    content_type: Option<&str>,
    boundary: &str,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (start, end, bytes) in parts {
        out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        if let Some(ct) = content_type {
            out.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!("content-range: bytes {start}-{end}/{len}\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110 §14.1.2 byte-range syntax and satisfiability.
    #[test]
    fn parses_byte_ranges() {
        let cases: &[(&str, u64, Option<Vec<(u64, u64)>>)] = &[
            ("bytes=0-1", 10, Some(vec![(0, 1)])),
            ("bytes=1-", 10, Some(vec![(1, 9)])),
            ("bytes=-1", 10, Some(vec![(9, 9)])),
            ("bytes=-20", 10, Some(vec![(0, 9)])),
            ("bytes=5-100", 10, Some(vec![(5, 9)])),
            ("bytes=0-0, 2-3", 10, Some(vec![(0, 0), (2, 3)])),
            ("BYTES = 0-1", 10, Some(vec![(0, 1)])),
            ("bytes=10-", 10, Some(vec![])),
            ("bytes=-0", 10, Some(vec![])),
            ("bytes=3-1", 10, None),
            ("bytes=a-b", 10, None),
            ("items=0-1", 10, None),
            ("bytes", 10, None),
        ];
        for (v, len, want) in cases {
            assert_eq!(parse(v, *len), *want, "{v:?}");
        }
    }

    /// RFC 9110 §14.2: overlapping and adjacent ranges are coalesced, so the
    /// answer never exceeds the representation; too many specs are ignored.
    #[test]
    fn coalesces_overlapping_ranges() {
        let stored = crate::http_cache::test_support::cached(&[("etag", "\"v\"")]);
        let many = format!("bytes={}", vec!["0-"; 50].join(","));
        let too_many = format!("bytes={}", vec!["0-0"; MAX_RANGE_SPECS + 1].join(","));
        let cases: &[(&str, RangeAnswer)] = &[
            (&many, RangeAnswer::Partial(vec![(0, 9)])),
            ("bytes=0-3,2-5", RangeAnswer::Partial(vec![(0, 5)])),
            ("bytes=0-3,4-5", RangeAnswer::Partial(vec![(0, 5)])),
            ("bytes=6-7,0-1", RangeAnswer::Partial(vec![(0, 1), (6, 7)])),
            ("bytes=-2,8-", RangeAnswer::Partial(vec![(8, 9)])),
            (&too_many, RangeAnswer::Full),
        ];
        for (v, want) in cases {
            let h = crate::http_cache::test_support::headers(&[("range", *v)]);
            assert_eq!(answer(&Method::GET, &h, &stored, 10), *want, "{v}");
        }
    }

    /// RFC 9110 §14.4 Content-Range, and what a stored partial response covers.
    #[test]
    fn partial_responses_cover_their_own_bytes() {
        assert_eq!(parse_content_range("bytes 4-9/10"), Some((4, 9, 10)));
        assert_eq!(parse_content_range("bytes 4-9/*"), None);
        assert_eq!(parse_content_range("bytes 9-4/10"), None);
        assert_eq!(parse_content_range("bytes 4-10/10"), None);
        let mut stored =
            crate::http_cache::test_support::cached(&[("content-range", "bytes 4-9/10")]);
        stored.status = StatusCode::PARTIAL_CONTENT;
        assert_eq!(stored_span(&stored, 6), Some((4, 10)));
        assert_eq!(
            stored_span(&stored, 5),
            None,
            "body must match Content-Range"
        );
        let cases: &[(&str, bool)] = &[
            ("bytes=-5", true),
            ("bytes=6-8", true),
            ("bytes=6-", true),
            ("bytes=-1", true),
            ("bytes=0-1", false),
        ];
        for (range, want) in cases {
            let h = crate::http_cache::test_support::headers(&[("range", *range)]);
            assert_eq!(covers(&Method::GET, &h, &stored, 6), *want, "{range}");
        }
        assert!(
            !covers(&Method::GET, &HeaderMap::new(), &stored, 6),
            "a full GET needs the whole body"
        );
    }

    /// RFC 9110 §14.6 multipart/byteranges framing.
    #[test]
    fn frames_multipart() {
        let parts = [
            (0, 1, bytes::Bytes::from_static(b"01")),
            (8, 9, bytes::Bytes::from_static(b"89")),
        ];
        let got = multipart(&parts, 10, Some("text/plain"), "B");
        let want = "\r\n--B\r\ncontent-type: text/plain\r\ncontent-range: bytes 0-1/10\r\n\r\n01\
                    \r\n--B\r\ncontent-type: text/plain\r\ncontent-range: bytes 8-9/10\r\n\r\n89\r\n--B--\r\n";
        assert_eq!(String::from_utf8(got).expect("utf8"), want);
    }

    /// RFC 9110 §13.1.5 If-Range and §14.2 when Range applies.
    #[test]
    fn answers_range_requests() {
        let stored = crate::http_cache::test_support::cached(&[
            ("etag", "\"v1\""),
            ("last-modified", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ]);
        let cases: &[(&[(&str, &str)], RangeAnswer)] = &[
            (&[], RangeAnswer::Full),
            (
                &[("range", "bytes=0-1")],
                RangeAnswer::Partial(vec![(0, 1)]),
            ),
            (&[("range", "bytes=50-")], RangeAnswer::Unsatisfiable),
            (
                &[("range", "bytes=0-1"), ("if-range", "\"v1\"")],
                RangeAnswer::Partial(vec![(0, 1)]),
            ),
            (
                &[("range", "bytes=0-1"), ("if-range", "\"v2\"")],
                RangeAnswer::Full,
            ),
            (
                &[("range", "bytes=0-1"), ("if-range", "W/\"v1\"")],
                RangeAnswer::Full,
            ),
            (
                &[
                    ("range", "bytes=0-1"),
                    ("if-range", "Tue, 14 Nov 2023 22:13:20 GMT"),
                ],
                RangeAnswer::Partial(vec![(0, 1)]),
            ),
            (
                &[
                    ("range", "bytes=0-1"),
                    ("if-range", "Tue, 14 Nov 2023 22:13:21 GMT"),
                ],
                RangeAnswer::Full,
            ),
        ];
        for (fields, want) in cases {
            let h = crate::http_cache::test_support::headers(fields);
            assert_eq!(answer(&Method::GET, &h, &stored, 10), *want, "{fields:?}");
        }
        let h = crate::http_cache::test_support::headers(&[("range", "bytes=0-1")]);
        assert_eq!(answer(&Method::HEAD, &h, &stored, 10), RangeAnswer::Full);
    }
}
