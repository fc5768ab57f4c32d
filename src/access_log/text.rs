//! Writing log fields into a line without `core::fmt`: integers, fixed-point
//! milliseconds, IPv4 addresses, dates, and strings escaped for JSON or for
//! the combined format. The common case (nothing to escape) copies the
//! string whole. (core::fmt cost about 11,000 instructions a line.)

pub use crate::http_cache::decimal::num;
use std::fmt::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// `n` in decimal, zero-padded to `width` digits.
pub fn num_pad(out: &mut String, n: u64, width: usize) {
    let mut digits = 1;
    let mut m = n / 10;
    while m > 0 {
        digits += 1;
        m /= 10;
    }
    for _ in digits..width {
        out.push('0');
    }
    num(out, n);
}

/// `d` in milliseconds with three decimals: `1.500`.
pub fn millis(out: &mut String, d: Duration) {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    num(out, micros / 1000);
    out.push('.');
    num_pad(out, micros % 1000, 3);
}

/// An address without its port.
pub fn ip(out: &mut String, addr: IpAddr) {
    match addr {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                num(out, u64::from(o));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month, day, second of the day, millisecond).
fn split(t: SystemTime) -> (i64, u32, u32, u64, u32) {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil((secs / 86_400) as i64);
    (y, m, d, secs % 86_400, since.subsec_millis())
}

fn clock(out: &mut String, s: u64) {
    num_pad(out, s / 3600, 2);
    out.push(':');
    num_pad(out, s / 60 % 60, 2);
    out.push(':');
    num_pad(out, s % 60, 2);
}

/// `2026-12-01T18:25:55.123Z`, reusing the text up to the second from
/// `cache` (second since the epoch, text) when it is the same second.
pub fn rfc3339_cached(out: &mut String, t: SystemTime, cache: &mut (u64, String)) {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    if cache.1.is_empty() || cache.0 != since.as_secs() {
        let mut text = String::with_capacity(24);
        rfc3339(&mut text, t);
        text.truncate(19);
        *cache = (since.as_secs(), text);
    }
    out.push_str(&cache.1);
    out.push('.');
    num_pad(out, u64::from(since.subsec_millis()), 3);
    out.push('Z');
}

/// `2026-12-01T18:25:55.123Z`.
pub fn rfc3339(out: &mut String, t: SystemTime) {
    let (y, m, d, s, ms) = split(t);
    num_pad(out, y.max(0) as u64, 4);
    out.push('-');
    num_pad(out, u64::from(m), 2);
    out.push('-');
    num_pad(out, u64::from(d), 2);
    out.push('T');
    clock(out, s);
    out.push('.');
    num_pad(out, u64::from(ms), 3);
    out.push('Z');
}

/// `01/Dec/2026:18:25:55 +0000`.
pub fn clf_time(out: &mut String, t: SystemTime) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, s, _) = split(t);
    num_pad(out, u64::from(d), 2);
    out.push('/');
    out.push_str(MONTHS[(m.clamp(1, 12) - 1) as usize]);
    out.push('/');
    num_pad(out, y.max(0) as u64, 4);
    out.push(':');
    clock(out, s);
    out.push_str(" +0000");
}

fn plain(s: &str) -> bool {
    s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f)
}

/// `s` escaped for a JSON string (without the quotes).
pub fn json_str(out: &mut String, s: &str) {
    if plain(s) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `s` fit to sit between double quotes in a combined-format line: quotes,
/// backslashes and control characters escaped (as nginx does), so a hostile
/// client cannot forge fields or lines.
pub fn clf_str(out: &mut String, s: &str) {
    if plain(s) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations() {
        let mut s = String::new();
        num(&mut s, 0);
        s.push(' ');
        num(&mut s, u64::MAX);
        s.push(' ');
        num_pad(&mut s, 7, 3);
        s.push(' ');
        millis(&mut s, Duration::from_micros(1500));
        s.push(' ');
        millis(&mut s, Duration::from_micros(42));
        s.push(' ');
        ip(&mut s, "192.0.2.7".parse().expect("ip"));
        s.push(' ');
        ip(&mut s, "::1".parse().expect("ip"));
        assert_eq!(s, "0 18446744073709551615 007 1.500 0.042 192.0.2.7 ::1");
    }

    #[test]
    fn civil_dates() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (11_016, (2000, 2, 29)),
            (20_423, (2025, 12, 1)),
        ] {
            assert_eq!(civil(days), date);
        }
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\nd\u{1}");
        assert_eq!(s, "a\\\"b\\\\c\\nd\\u0001");
        s.clear();
        clf_str(&mut s, "a\" 200 \"b\\\n");
        assert_eq!(s, "a\\\" 200 \\\"b\\\\\\x0A");
    }
}
