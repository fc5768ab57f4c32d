//! The Age header (RFC 9111 §5.1) and the age calculation of §4.2.3.

use super::cache_control::DELTA_SECONDS_CAP;
use http::HeaderMap;
use std::time::SystemTime;

/// The Age header's value in seconds (§5.1), or `None` when absent or invalid.
///
/// §5.1: a list-based Age (a comma-separated list, or several field lines)
/// uses its first member, "discarding subsequent ones"; an invalid value
/// ("something other than a non-negative integer") is ignored. A value
/// beyond [`DELTA_SECONDS_CAP`] counts as the cap (§1.2.2), so the response is
/// stale. Parameters (`7200;foo=bar`) are not part of Age's grammar: the
/// integer before them is used, the conservative reading (ignoring the whole
/// field would make an old response fresh). The npm release 0.4.5 of
/// cache-tests expected invalid values to make the response stale; the
/// current suite follows the RFC (docs/rfc9111-coverage.md lists both).
pub fn age_value(headers: &HeaderMap) -> Option<u64> {
    let first = headers.get(http::header::AGE)?;
    let s = std::str::from_utf8(first.as_bytes()).ok()?;
    let member = s.split(',').next().unwrap_or("");
    let value = member.split(';').next().unwrap_or("");
    let v = value.trim_matches([' ', '\t']);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
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

    /// RFC 9111 §5.1: the first member of a list-based Age is used; an
    /// invalid Age is ignored; §1.2.2: an overflowing one is the cap.
    #[test]
    fn parses_age() {
        let cases: &[(&[&str], Option<u64>)] = &[
            (&[], None),
            (&["60"], Some(60)),
            (&["0"], Some(0)),
            (&["-60"], None),
            (&["1.5"], None),
            (&["7200.0"], None),
            (&["abc"], None),
            (&[""], None),
            (&["60, 120"], Some(60)),
            (&["7200, 0"], Some(7200)),
            (&["0, 7200"], Some(0)),
            (&["0, 0"], Some(0)),
            (&["60", "120"], Some(60)),
            (&["7200", "0"], Some(7200)),
            (&["abc, 60"], None),
            (&["7200;foo=1"], Some(7200)),
            (&["7200;foo=bar"], Some(7200)),
            (&["2147483647"], Some(2_147_483_647)),
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
