//! Age, HTTP dates, Expires and the freshness lifetime from arbitrary field
//! lines: no panic, Age within the cap.
#![no_main]

use edgecache::http_cache::cache_control::DELTA_SECONDS_CAP;
use edgecache::http_cache::cached_response::{effective_cache_control, http_date};
use edgecache::http_cache::{Policy, age, freshness};
use http::{HeaderMap, HeaderName, StatusCode};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, SystemTime};

const FIELDS: [&str; 5] = ["age", "date", "expires", "last-modified", "cache-control"];

fuzz_target!(|data: &[u8]| {
    let (seed, rest) = edgecache_fuzz::take_u64(data);
    let a = age::age_value(&edgecache_fuzz::header("age", rest));
    assert!(a.is_none_or(|a| a <= DELTA_SECONDS_CAP));
    // Each line goes to the field its first byte picks.
    let mut h = HeaderMap::new();
    for v in edgecache_fuzz::lines(rest) {
        let pick = v.as_bytes().first().copied().unwrap_or(0) as usize % FIELDS.len();
        let _ = http_date(&v);
        h.append(HeaderName::from_static(FIELDS[pick]), v);
    }
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(seed % 8_000_000_000);
    let policy = Policy::default();
    let eff = effective_cache_control(&h, &policy);
    let status = StatusCode::from_u16(100 + (seed % 500) as u16).unwrap_or(StatusCode::OK);
    let _ = freshness::lifetime(status, &h, &eff, now, &policy).secs();
    let date = h.get("date").and_then(http_date);
    let initial = age::initial_age(age::age_value(&h), date, now, now);
    assert!(age::current_age(initial, now, now) >= initial);
});
