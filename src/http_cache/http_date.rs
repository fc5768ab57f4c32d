//! HTTP-date parsing (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete
//! RFC 850 and asctime formats a recipient must also accept.
//!
//! The grammar is followed exactly (single spaces, two-digit time fields,
//! four-digit years but in RFC 850), except that day names, month names and
//! `GMT` are matched without regard to case (§5.6.7 says they are
//! case-sensitive, but a recipient that is lenient here only accepts dates it
//! could not otherwise use; the cache-tests `freshness-expires-wrong-case-*`
//! tests expect it), and the day name is not checked against the date (it is
//! redundant, and a mismatch carries no other meaning).

use std::time::{Duration, SystemTime};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAYS_LONG: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Parse an HTTP-date in any of the three formats; `None` if it is none of them.
pub fn parse(s: &str) -> Option<SystemTime> {
    imf_fixdate(s).or_else(|| rfc850(s)).or_else(|| asctime(s))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
        return None;
    }
    day_name(&s[..3], &DAYS)?;
    let day = digits(&s[5..7])?;
    let month = month(&s[8..11])?;
    let year = digits(&s[12..16])?;
    let (h, m, sec) = time_of_day(&s[17..25])?;
    gmt(&s[25..])?;
    to_time(year, month, day, h, m, sec)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn rfc850(s: &str) -> Option<SystemTime> {
    let (name, rest) = s.split_once(", ")?;
    day_name(name, &DAYS_LONG)?;
    let b = rest.as_bytes();
    if b.len() != 22 || b[2] != b'-' || b[6] != b'-' || b[9] != b' ' || b[18] != b' ' {
        return None;
    }
    let day = digits(&rest[..2])?;
    let month = month(&rest[3..6])?;
    let yy = digits(&rest[7..9])?;
    // §5.6.7 interprets a two-digit year relative to the present; a fixed
    // pivot (as most implementations use) keeps this function pure.
    let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
    let (h, m, sec) = time_of_day(&rest[10..18])?;
    gmt(&rest[18..])?;
    to_time(year, month, day, h, m, sec)
}

/// `Sun Nov  6 08:49:37 1994`
fn asctime(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 24 || b[3] != b' ' || b[7] != b' ' || b[10] != b' ' || b[19] != b' ' {
        return None;
    }
    day_name(&s[..3], &DAYS)?;
    let month = month(&s[4..7])?;
    let day = match b[8] {
        b' ' => digits(&s[9..10])?,
        _ => digits(&s[8..10])?,
    };
    let (h, m, sec) = time_of_day(&s[11..19])?;
    let year = digits(&s[20..24])?;
    to_time(year, month, day, h, m, sec)
}

fn day_name(s: &str, names: &[&str]) -> Option<()> {
    names
        .iter()
        .any(|n| n.eq_ignore_ascii_case(s))
        .then_some(())
}

fn month(s: &str) -> Option<u64> {
    let i = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(s))?;
    Some(i as u64 + 1)
}

fn gmt(s: &str) -> Option<()> {
    s.eq_ignore_ascii_case(" GMT").then_some(())
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `HH:MM:SS`, each two digits.
fn time_of_day(s: &str) -> Option<(u64, u64, u64)> {
    let b = s.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    Some((digits(&s[..2])?, digits(&s[3..5])?, digits(&s[6..8])?))
}

fn to_time(year: u64, month: u64, day: u64, h: u64, m: u64, s: u64) -> Option<SystemTime> {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let max_day = days_in[usize::try_from(month - 1).ok()?];
    // 60 seconds: a leap second (§5.6.7 allows it).
    if !(1970..=9999).contains(&year) || day == 0 || day > max_day || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + h * 3_600 + m * 60 + s;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (year ≥ 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// RFC 9110 §5.6.7: the three formats, their exact grammar, and the
    /// case-insensitive names the cache-tests expires-parse group expects.
    #[test]
    fn parses_http_dates() {
        let nov_6_1994 = at(784_111_777);
        let aug_18_2050 = at(2_544_400_878);
        let cases: &[(&str, Option<SystemTime>)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", nov_6_1994),
            ("Sunday, 06-Nov-94 08:49:37 GMT", nov_6_1994),
            ("Sun Nov  6 08:49:37 1994", nov_6_1994),
            ("Thu, 18 Aug 2050 02:01:18 GMT", aug_18_2050),
            ("THU, 18 Aug 2050 02:01:18 GMT", aug_18_2050),
            ("Thu, 18 AUG 2050 02:01:18 GMT", aug_18_2050),
            ("Thu, 18 Aug 2050 02:01:18 gMT", aug_18_2050),
            ("Thursday, 18-Aug-50 02:01:18 GMT", aug_18_2050),
            // the day name is not checked against the date
            ("Thu Aug 18 02:01:18 2050", aug_18_2050),
            ("Mon, 18 Aug 2050 02:01:18 GMT", aug_18_2050),
            ("Thu, 01 Jan 1970 00:00:00 GMT", at(0)),
            ("Tue, 19 Jan 2038 14:14:08 GMT", at(2_147_523_248)),
            ("Sun, 21 Nov 2286 04:46:39 GMT", at(10_000_039_599)),
            // invalid (expires-parse freshness-expires-invalid-*)
            ("Thu, 18 Aug 2050 02:01:18 UTC", None),
            ("Thu, 18 Aug 2050 02:01:18 AEST", None),
            ("Thu, 18 Aug 50 02:01:18 GMT", None),
            ("Thu 18 Aug 2050 02:01:18 GMT", None),
            ("Thu, 18  Aug  2050 02:01:18 GMT", None),
            ("Thu, 18-Aug-2050 02:01:18 GMT", None),
            ("Thu, 18 Aug 2050 02.01.18 GMT", None),
            ("Thu, 18 Aug 2050 2:01:18 GMT", None),
            ("Thu, 31 Feb 2050 02:01:18 GMT", None),
            ("Thu, 18 Aug 2050 24:01:18 GMT", None),
            ("Xyz, 18 Aug 2050 02:01:18 GMT", None),
            ("0", None),
            ("", None),
            ("Thu, 18 Aug 2050 02:01:18 GMT ", None),
            ("Thu, 18 Aug +050 02:01:18 GMT", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s), *want, "{s:?}");
        }
    }
}
