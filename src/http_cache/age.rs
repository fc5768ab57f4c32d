//! The Age header (RFC 9111 §5.1) and the age calculation of §4.2.3.

use super::cache_control::DELTA_SECONDS_CAP;
use http::HeaderMap;
use std::time::SystemTime;

/// The Age header's value in seconds (§5.1), or `None` when absent.
///
/// Age is a single delta-seconds. Anything else (a list, several field
/// lines, a sign, a fraction, parameters, text) is invalid, and an invalid
/// Age makes the response stale: it counts as [`DELTA_SECONDS_CAP`]. This is
/// the conservative reading the cache-tests suite checks (age-parse-*); see
/// docs/rfc9111-coverage.md.
pub fn age_value(headers: &HeaderMap) -> Option<u64> {
    let mut lines = headers.get_all(http::header::AGE).iter();
    let first = lines.next()?;
    if lines.next().is_some() {
        return Some(DELTA_SECONDS_CAP);
    }
    let Ok(s) = std::str::from_utf8(first.as_bytes()) else {
        return Some(DELTA_SECONDS_CAP);
    };
    let v = s.trim_matches([' ', '\t']);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(DELTA_SECONDS_CAP);
    }
    let digits = v.trim_start_matches('0');
    if digits.len() > 10 {
        return Some(DELTA_SECONDS_CAP);
    }
    Some(digits.parse::<u64>().unwrap_or(0).min(DELTA_SECONDS_CAP))
}

fn secs_between(later: SystemTime, earlier: SystemTime) -> u64 {
    later
        .duration_since(earlier)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `corrected_initial_age` of §4.2.3, fixed when the response is received.
pub fn initial_age(
    age_value: Option<u64>,
    date: Option<SystemTime>,
    request_time: SystemTime,
    response_time: SystemTime,
) -> u64 {
    let apparent_age = date.map(|d| secs_between(response_time, d)).unwrap_or(0);
    let response_delay = secs_between(response_time, request_time);
    let corrected_age_value = age_value.unwrap_or(0).saturating_add(response_delay);
    apparent_age.max(corrected_age_value)
}

/// `current_age` of §4.2.3.
pub fn current_age(initial_age: u64, response_time: SystemTime, now: SystemTime) -> u64 {
    initial_age.saturating_add(secs_between(now, response_time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// RFC 9111 §5.1: Age is one delta-seconds; an invalid Age makes the response stale.
    #[test]
    fn parses_age() {
        let cases: &[(&[&str], Option<u64>)] = &[
            (&[], None),
            (&["60"], Some(60)),
            (&["0"], Some(0)),
            (&["-60"], Some(DELTA_SECONDS_CAP)),
            (&["1.5"], Some(DELTA_SECONDS_CAP)),
            (&["abc"], Some(DELTA_SECONDS_CAP)),
            (&[""], Some(DELTA_SECONDS_CAP)),
            (&["60, 120"], Some(DELTA_SECONDS_CAP)),
            (&["0, 0"], Some(DELTA_SECONDS_CAP)),
            (&["60", "120"], Some(DELTA_SECONDS_CAP)),
            (&["7200;foo=1"], Some(DELTA_SECONDS_CAP)),
            (&["2147483648"], Some(DELTA_SECONDS_CAP)),
            (&["99999999999999999999"], Some(DELTA_SECONDS_CAP)),
            (&[" 7 "], Some(7)),
        ];
        for (lines, want) in cases {
            let mut h = HeaderMap::new();
            for l in *lines {
                h.append(http::header::AGE, l.parse().expect("valid"));
            }
            assert_eq!(age_value(&h), *want, "lines {lines:?}");
        }
    }

    /// RFC 9111 §4.2.3: corrected initial age and resident time.
    #[test]
    fn computes_age() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = |n: u64| t0 + Duration::from_secs(n);
        // (age header, date, request, response, expected initial age)
        let cases = [
            (None, Some(s(10)), s(10), s(10), 0),
            (Some(30), Some(s(10)), s(10), s(12), 32),
            (None, Some(s(0)), s(10), s(10), 10),
            (Some(5), Some(s(20)), s(10), s(10), 5),
            (None, None, s(10), s(13), 3),
        ];
        for (i, (age, date, req, resp, want)) in cases.into_iter().enumerate() {
            assert_eq!(initial_age(age, date, req, resp), want, "case {i}");
        }
        assert_eq!(current_age(32, s(12), s(20)), 40);
        assert_eq!(
            current_age(32, s(12), s(5)),
            32,
            "clock going back never lowers age"
        );
    }
}
