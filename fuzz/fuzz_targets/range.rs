//! Range and Content-Range from arbitrary input: ranges stay inside the
//! representation, a Content-Range is consistent.
#![no_main]

use edgecache::http_cache::CachedResponse;
use edgecache::http_cache::range::{self, RangeAnswer};
use http::{HeaderMap, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use std::time::SystemTime;

fuzz_target!(|data: &[u8]| {
    let (len, rest) = edgecache_fuzz::take_u64(data);
    // Small lengths are where the edge cases are; keep every width reachable.
    let len = if len & 1 == 0 {
        len >> 1
    } else {
        (len >> 1) % 4096
    };
    let text = String::from_utf8_lossy(rest);
    if let Some(ranges) = range::parse(&text, len) {
        assert!(ranges.iter().all(|&(a, b)| a <= b && b < len));
    }
    if let Some((a, b, c)) = range::parse_content_range(&text) {
        assert!(a <= b && b < c);
    }
    let mut stored = CachedResponse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        request_time: SystemTime::UNIX_EPOCH,
        response_time: SystemTime::UNIX_EPOCH,
        initial_age: 0,
        variant: vec![],
        purge_seq: 0,
        surrogate_keys: vec![],
    };
    let request = edgecache_fuzz::header("range", rest);
    if let RangeAnswer::Partial(parts) = range::answer(&Method::GET, &request, &stored, len) {
        assert!(!parts.is_empty());
        assert!(parts.iter().all(|&(a, b)| a <= b && b < len));
    }
    // The same bytes as a stored 206's Content-Range.
    stored.status = StatusCode::PARTIAL_CONTENT;
    stored.headers = edgecache_fuzz::header("content-range", rest);
    if let Some((first, complete)) = range::stored_span(&stored, len) {
        assert!(first < complete && first.saturating_add(len) <= complete);
    }
    let _ = range::covers(&Method::GET, &request, &stored, len);
});
