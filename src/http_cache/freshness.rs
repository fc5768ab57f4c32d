//! Freshness lifetime (RFC 9111 §4.2.1) and heuristic freshness (§4.2.2).

use super::cache_control::Seconds;
use super::cached_response::{Effective, http_date};
use super::policy::Policy;
use http::{HeaderMap, StatusCode};
use std::time::SystemTime;

/// How long a response is fresh for, and where that came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// From s-maxage, max-age or Expires.
    Explicit(u64),
    /// Computed from Last-Modified (§4.2.2).
    Heuristic(u64),
    /// No freshness information: stale at once (can still be stored and revalidated).
    None,
}

impl Lifetime {
    /// The lifetime in seconds (0 for `None`).
    pub fn secs(self) -> u64 {
        match self {
            Lifetime::Explicit(s) | Lifetime::Heuristic(s) => s,
            Lifetime::None => 0,
        }
    }
}

/// Status codes that are heuristically cacheable (RFC 9110 §15.1).
pub fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// The freshness lifetime of a response for a shared cache (§4.2.1):
/// s-maxage, then max-age, then Expires minus Date, then a heuristic.
/// `response_time` stands in for a missing or invalid Date.
pub fn lifetime(
    status: StatusCode,
    headers: &HeaderMap,
    eff: &Effective,
    response_time: SystemTime,
    policy: &Policy,
) -> Lifetime {
    let cc = &eff.cc;
    if let Some(s) = cc.s_maxage() {
        return Lifetime::Explicit(s.valid().unwrap_or(0));
    }
    if let Some(s) = cc.max_age() {
        return Lifetime::Explicit(match s {
            Seconds::Valid(v) => v,
            Seconds::Invalid => 0,
        });
    }
    let date = headers
        .get(http::header::DATE)
        .and_then(http_date)
        .unwrap_or(response_time);
    if !eff.targeted {
        let mut expires = headers.get_all(http::header::EXPIRES).iter();
        if let Some(first) = expires.next() {
            // An invalid Expires, or several, means "already expired" (§5.3).
            if expires.next().is_some() {
                return Lifetime::Explicit(0);
            }
            return Lifetime::Explicit(match http_date(first) {
                Some(exp) => exp.duration_since(date).map(|d| d.as_secs()).unwrap_or(0),
                None => 0,
            });
        }
    }
    if (heuristically_cacheable(status) || cc.public())
        && let Some(lm) = headers.get(http::header::LAST_MODIFIED).and_then(http_date)
    {
        let since = date.duration_since(lm).map(|d| d.as_secs()).unwrap_or(0);
        let secs = ((since as f64) * policy.heuristic_fraction) as u64;
        return Lifetime::Heuristic(secs.min(policy.heuristic_max_secs));
    }
    Lifetime::None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_cache::cached_response::effective_cache_control;
    use std::time::Duration;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    fn date(s: u64) -> String {
        httpdate::fmt_http_date(at(s))
    }

    fn run(status: u16, fields: &[(&str, String)]) -> Lifetime {
        let h = crate::http_cache::test_support::headers(fields);
        let policy = Policy::default();
        let eff = effective_cache_control(&h, &policy);
        lifetime(
            StatusCode::from_u16(status).expect("status"),
            &h,
            &eff,
            at(0),
            &policy,
        )
    }

    /// RFC 9111 §4.2.1 precedence, §5.3 Expires rules, §4.2.2 heuristics,
    /// RFC 9213 §2.2 targeted fields.
    #[test]
    fn computes_lifetime() {
        let s = |v: &str| v.to_string();
        let cases: Vec<(&str, u16, Vec<(&str, String)>, Lifetime)> = vec![
            (
                "max-age",
                200,
                vec![("cache-control", s("max-age=60"))],
                Lifetime::Explicit(60),
            ),
            (
                "s-maxage wins for shared",
                200,
                vec![("cache-control", s("max-age=60, s-maxage=5"))],
                Lifetime::Explicit(5),
            ),
            (
                "invalid max-age is stale",
                200,
                vec![("cache-control", s("max-age=x"))],
                Lifetime::Explicit(0),
            ),
            (
                "max-age beats expires",
                200,
                vec![("cache-control", s("max-age=5")), ("expires", date(100))],
                Lifetime::Explicit(5),
            ),
            (
                "expires minus date",
                200,
                vec![("date", date(0)), ("expires", date(100))],
                Lifetime::Explicit(100),
            ),
            (
                "expires in the past",
                200,
                vec![("date", date(100)), ("expires", date(0))],
                Lifetime::Explicit(0),
            ),
            (
                "expires 0",
                200,
                vec![("expires", s("0"))],
                Lifetime::Explicit(0),
            ),
            (
                "two expires",
                200,
                vec![("expires", date(100)), ("expires", date(100))],
                Lifetime::Explicit(0),
            ),
            (
                "rfc850 expires",
                200,
                vec![
                    ("date", date(0)),
                    ("expires", s("Tuesday, 14-Nov-23 22:14:20 GMT")),
                ],
                Lifetime::Explicit(60),
            ),
            (
                "heuristic 10%",
                200,
                vec![("date", date(1000)), ("last-modified", date(0))],
                Lifetime::Heuristic(100),
            ),
            (
                "no heuristic for 302",
                302,
                vec![("date", date(1000)), ("last-modified", date(0))],
                Lifetime::None,
            ),
            (
                "public allows heuristic",
                302,
                vec![
                    ("cache-control", s("public")),
                    ("date", date(1000)),
                    ("last-modified", date(0)),
                ],
                Lifetime::Heuristic(100),
            ),
            ("no info", 200, vec![], Lifetime::None),
            (
                "targeted beats cache-control",
                200,
                vec![
                    ("cache-control", s("max-age=5")),
                    ("cdn-cache-control", s("max-age=50")),
                ],
                Lifetime::Explicit(50),
            ),
            (
                "targeted ignores expires",
                200,
                vec![
                    ("cdn-cache-control", s("no-cache")),
                    ("date", date(0)),
                    ("expires", date(100)),
                ],
                Lifetime::None,
            ),
        ];
        for (name, status, fields, want) in cases {
            assert_eq!(run(status, &fields), want, "{name}");
        }
    }
}
