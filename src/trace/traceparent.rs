//! W3C Trace Context level 1 (<https://www.w3.org/TR/trace-context-1/>):
//! parsing the `traceparent` and `tracestate` request fields strictly, and
//! formatting ours. A value that fails any rule is ignored (the node starts
//! a new trace), never passed on as it came.

use super::ids::{SpanId, TraceId};
use http::{HeaderMap, HeaderValue};

/// The `traceparent` field name.
pub const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
/// The `tracestate` field name.
pub const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");

/// §3.3.1.1: at most 32 list members.
const MAX_MEMBERS: usize = 32;

/// A valid incoming `traceparent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parent {
    /// §3.2.2.3 trace-id.
    pub trace_id: TraceId,
    /// §3.2.2.4 parent-id: the caller's span.
    pub span_id: SpanId,
    /// §3.2.2.5 trace-flags, bit 0: the caller sampled this trace.
    pub sampled: bool,
}

/// The request's `traceparent`, if it has exactly one and it is valid.
pub fn parent(headers: &HeaderMap) -> Option<Parent> {
    let mut all = headers.get_all(TRACEPARENT).iter();
    let (first, second) = (all.next()?, all.next());
    if second.is_some() {
        // Two values would be one comma-joined field: not a traceparent.
        return None;
    }
    parse(first.as_bytes())
}

/// Parse a `traceparent` value (§3.2.2).
pub fn parse(v: &[u8]) -> Option<Parent> {
    // §3.2.2.1: version is 2 lower-case hex digits; `ff` is forbidden.
    if v.len() < 55 || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let version = hex(&v[0..2])? as u8;
    if version == 0xff {
        return None;
    }
    // Version 00 is exactly 55 characters. §3.2.4: a later version is read
    // as 00 when its 56th character, if any, is a dash.
    if (version == 0 && v.len() != 55) || (v.len() > 55 && v[55] != b'-') {
        return None;
    }
    let trace_id = hex(&v[3..35])?;
    let span_id = hex(&v[36..52])? as u64;
    let flags = hex(&v[53..55])? as u8;
    // §3.2.2.3, §3.2.2.4: all-zero ids are invalid.
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    Some(Parent {
        trace_id: TraceId(trace_id),
        span_id: SpanId(span_id),
        sampled: flags & 1 == 1,
    })
}

/// Lower-case hex digits (HEXDIGLC) as a number; `None` for anything else.
fn hex(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |acc, &b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some((acc << 4) | u128::from(d))
    })
}

/// Our `traceparent` (version 00): `trace_id`, `span_id` as the parent, and
/// only the sampled flag (§3.2.2.5: unknown flags are not propagated).
pub fn format(trace_id: TraceId, span_id: SpanId, sampled: bool) -> HeaderValue {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut b = *b"00-00000000000000000000000000000000-0000000000000000-00";
    for i in 0..32 {
        b[3 + i] = DIGITS[((trace_id.0 >> (124 - 4 * i)) & 0xf) as usize];
    }
    for i in 0..16 {
        b[36 + i] = DIGITS[((span_id.0 >> (60 - 4 * i)) & 0xf) as usize];
    }
    if sampled {
        b[54] = b'1';
    }
    HeaderValue::from_bytes(&b).unwrap_or(HeaderValue::from_static(""))
}

/// The request's `tracestate` (§3.3), all its field lines joined, when every
/// list member is valid: `key=value` with the §3.3.1.3 key and value
/// grammar, at most 32 members, no key twice. Empty members are dropped
/// (§3.3.1.1 allows them). `None` when absent, empty or invalid.
pub fn state(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut keys: Vec<&str> = Vec::new();
    let mut out = String::new();
    for line in headers.get_all(TRACESTATE) {
        let line = line.to_str().ok()?;
        for member in line.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member.split_once('=')?;
            if !valid_key(key) || !valid_value(value) || keys.contains(&key) {
                return None;
            }
            keys.push(key);
            if keys.len() > MAX_MEMBERS {
                return None;
            }
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(member);
        }
    }
    if out.is_empty() {
        return None;
    }
    HeaderValue::from_str(&out).ok()
}

/// §3.3.1.3.1: `simple-key` or `tenant-id@system-id`.
fn valid_key(key: &str) -> bool {
    let rest = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(&b))
    };
    match key.split_once('@') {
        None => {
            (1..=256).contains(&key.len()) && key.as_bytes()[0].is_ascii_lowercase() && rest(key)
        }
        Some((tenant, system)) => {
            (1..=241).contains(&tenant.len())
                && (tenant.as_bytes()[0].is_ascii_lowercase()
                    || tenant.as_bytes()[0].is_ascii_digit())
                && rest(tenant)
                && (1..=14).contains(&system.len())
                && system.as_bytes()[0].is_ascii_lowercase()
                && rest(system)
        }
    }
}

/// §3.3.1.3.2: 1 to 256 printable characters but `,` and `=`, not ending
/// in a space.
fn valid_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && !value.ends_with(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";

    /// §3.2.2 field by field, §3.2.4 for later versions.
    #[test]
    fn parses_traceparent_strictly() {
        let ok = |sampled| {
            Some(Parent {
                trace_id: TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
                span_id: SpanId(0x00f0_67aa_0ba9_02b7),
                sampled,
            })
        };
        let cases: &[(String, Option<Parent>, &str)] = &[
            (
                format!("00-{ID}-{PARENT}-01"),
                ok(true),
                "§3.2.2 example, sampled",
            ),
            (format!("00-{ID}-{PARENT}-00"), ok(false), "not sampled"),
            (
                format!("00-{ID}-{PARENT}-03"),
                ok(true),
                "unknown flag bits ignored (§3.2.2.5)",
            ),
            (
                format!("01-{ID}-{PARENT}-01"),
                ok(true),
                "a later version, same length (§3.2.4)",
            ),
            (
                format!("cc-{ID}-{PARENT}-01-what-the-future-holds"),
                ok(true),
                "later version, more fields",
            ),
            (
                format!("cc-{ID}-{PARENT}-01what"),
                None,
                "later version, no dash after flags",
            ),
            (
                format!("ff-{ID}-{PARENT}-01"),
                None,
                "version ff is forbidden (§3.2.2.1)",
            ),
            (
                format!("00-{ID}-{PARENT}-01-extra"),
                None,
                "version 00 is exactly 55 chars",
            ),
            (
                format!("00-{}-{PARENT}-01", "0".repeat(32)),
                None,
                "all-zero trace-id (§3.2.2.3)",
            ),
            (
                format!("00-{ID}-{}-01", "0".repeat(16)),
                None,
                "all-zero parent-id (§3.2.2.4)",
            ),
            (
                format!("00-{}-{PARENT}-01", ID.to_uppercase()),
                None,
                "upper-case hex (HEXDIGLC)",
            ),
            (format!("0-{ID}-{PARENT}-01"), None, "short version"),
            (format!("00-{ID}-{PARENT}-1"), None, "short flags"),
            (format!("00-{ID}-{PARENT}-0g"), None, "non-hex flags"),
            (format!("00_{ID}-{PARENT}-01"), None, "wrong separator"),
            (format!(" 00-{ID}-{PARENT}-01"), None, "leading space"),
            (format!("00-{ID}-{PARENT}-01 "), None, "trailing space"),
            (String::new(), None, "empty"),
        ];
        for (value, want, why) in cases {
            assert_eq!(parse(value.as_bytes()), *want, "{why}: {value}");
        }
    }

    /// Two traceparent lines are not a traceparent.
    #[test]
    fn refuses_two_traceparent_fields() {
        let mut h = HeaderMap::new();
        let v = HeaderValue::from_str(&format!("00-{ID}-{PARENT}-01")).expect("value");
        h.append(TRACEPARENT, v.clone());
        assert!(parent(&h).is_some());
        h.append(TRACEPARENT, v);
        assert_eq!(parent(&h), None);
    }

    /// §3.2: version 00, lower-case hex, only the sampled flag.
    #[test]
    fn formats_traceparent() {
        let cases = [
            (
                TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
                SpanId(0x00f0_67aa_0ba9_02b7),
                true,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            (
                TraceId(1),
                SpanId(2),
                false,
                "00-00000000000000000000000000000001-0000000000000002-00",
            ),
            (
                TraceId(u128::MAX),
                SpanId(u64::MAX),
                true,
                "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
            ),
        ];
        for (t, s, sampled, want) in cases {
            let v = format(t, s, sampled);
            assert_eq!(v, want);
            let back = parse(v.as_bytes()).expect("round trip");
            assert_eq!((back.trace_id, back.span_id, back.sampled), (t, s, sampled));
        }
    }

    /// §3.3.1: list members, keys and values; any bad member drops it all.
    #[test]
    fn validates_tracestate() {
        let cases: &[(&[&str], Option<&str>, &str)] = &[
            (
                &["congo=t61rcWkgMzE"],
                Some("congo=t61rcWkgMzE"),
                "one member",
            ),
            (
                &["rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"],
                Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
                "OWS around commas",
            ),
            (
                &["rojo=1", "congo=2"],
                Some("rojo=1,congo=2"),
                "two field lines are one list",
            ),
            (
                &["rojo=1,,  ,congo=2"],
                Some("rojo=1,congo=2"),
                "empty members dropped (§3.3.1.1)",
            ),
            (
                &["fw529a3039@dt=x"],
                Some("fw529a3039@dt=x"),
                "multi-tenant key",
            ),
            (&["1abc=x"], None, "simple key must start with a letter"),
            (&["Rojo=x"], None, "upper-case key"),
            (&["rojo=a=b"], None, "`=` in a value"),
            (
                &["rojo=x "],
                Some("rojo=x"),
                "trailing OWS is not part of the value",
            ),
            (&["rojo=a\tb"], None, "a tab in a value (chr is %x20-7E)"),
            (&["rojo"], None, "no `=`"),
            (&["rojo=1,rojo=2"], None, "a key twice"),
            (&["t@toolongsystemid=x"], None, "system-id over 14 chars"),
            (&[""], None, "empty"),
        ];
        for (lines, want, why) in cases {
            let mut h = HeaderMap::new();
            for l in *lines {
                h.append(TRACESTATE, HeaderValue::from_str(l).expect("value"));
            }
            assert_eq!(
                state(&h).as_ref().map(|v| v.to_str().expect("ascii")),
                *want,
                "{why}"
            );
        }
        let mut h = HeaderMap::new();
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        h.insert(
            TRACESTATE,
            HeaderValue::from_str(&many.join(",")).expect("value"),
        );
        assert_eq!(state(&h), None, "more than 32 members (§3.3.1.1)");
        h.insert(
            TRACESTATE,
            HeaderValue::from_str(&many[..32].join(",")).expect("value"),
        );
        assert!(state(&h).is_some(), "32 members");
    }
}
