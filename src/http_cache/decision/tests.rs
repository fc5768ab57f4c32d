use super::*;
use std::time::Duration;

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
}

fn entry(resp: &[(&str, &str)]) -> CachedResponse {
    let mut headers = crate::http_cache::test_support::headers(resp);
    headers.insert(
        "date",
        httpdate::fmt_http_date(at(0)).parse().expect("date"),
    );
    CachedResponse {
        status: http::StatusCode::OK,
        headers,
        request_time: at(0),
        response_time: at(0),
        initial_age: 0,
        variant: vec![],
        purge_seq: 0,
        surrogate_keys: vec![],
    }
}

fn req(fields: &[(&str, &str)]) -> RequestDirectives {
    RequestDirectives::from_headers(&crate::http_cache::test_support::headers(fields), true)
}

fn kind(d: Decision) -> String {
    match d {
        Decision::Fresh { .. } => "fresh".into(),
        Decision::Stale { serve, .. } => format!("stale:{serve:?}"),
        Decision::Revalidate { reason, .. } => format!("revalidate:{}", reason.as_str()),
    }
}

/// RFC 9111 §4.2 freshness, §4.2.4 serving stale, §5.2.1 request directives,
/// §5.4 Pragma, RFC 5861 §3 stale-while-revalidate.
#[test]
fn decides_reuse() {
    let cases: Vec<(&str, Vec<(&str, &str)>, Vec<(&str, &str)>, u64, &str)> = vec![
        (
            "fresh",
            vec![("cache-control", "max-age=100")],
            vec![],
            50,
            "fresh",
        ),
        (
            "stale",
            vec![("cache-control", "max-age=100")],
            vec![],
            150,
            "revalidate:stale",
        ),
        (
            "exactly at lifetime is stale",
            vec![("cache-control", "max-age=100")],
            vec![],
            100,
            "revalidate:stale",
        ),
        (
            "response no-cache",
            vec![("cache-control", "max-age=100, no-cache")],
            vec![],
            1,
            "revalidate:response-no-cache",
        ),
        (
            "request no-cache",
            vec![("cache-control", "max-age=100")],
            vec![("cache-control", "no-cache")],
            1,
            "revalidate:request-no-cache",
        ),
        (
            "pragma no-cache",
            vec![("cache-control", "max-age=100")],
            vec![("pragma", "no-cache")],
            1,
            "revalidate:request-no-cache",
        ),
        (
            "pragma ignored beside cache-control",
            vec![("cache-control", "max-age=100")],
            vec![("pragma", "no-cache"), ("cache-control", "max-age=1000")],
            1,
            "fresh",
        ),
        (
            "request max-age",
            vec![("cache-control", "max-age=100")],
            vec![("cache-control", "max-age=10")],
            20,
            "revalidate:request-max-age",
        ),
        (
            "request max-age ok",
            vec![("cache-control", "max-age=100")],
            vec![("cache-control", "max-age=30")],
            20,
            "fresh",
        ),
        (
            "min-fresh",
            vec![("cache-control", "max-age=100")],
            vec![("cache-control", "min-fresh=60")],
            50,
            "revalidate:request-min-fresh",
        ),
        (
            "max-stale any",
            vec![("cache-control", "max-age=100")],
            vec![("cache-control", "max-stale")],
            500,
            "stale:MaxStale",
        ),
        (
            "max-stale within",
            vec![("cache-control", "max-age=100")],
            vec![("cache-control", "max-stale=60")],
            150,
            "stale:MaxStale",
        ),
        (
            "max-stale beyond",
            vec![("cache-control", "max-age=100")],
            vec![("cache-control", "max-stale=10")],
            150,
            "revalidate:stale",
        ),
        (
            "must-revalidate beats max-stale",
            vec![("cache-control", "max-age=100, must-revalidate")],
            vec![("cache-control", "max-stale")],
            150,
            "revalidate:stale",
        ),
        (
            "s-maxage forbids stale",
            vec![("cache-control", "s-maxage=100")],
            vec![("cache-control", "max-stale")],
            150,
            "revalidate:stale",
        ),
        (
            "swr within",
            vec![("cache-control", "max-age=100, stale-while-revalidate=60")],
            vec![],
            150,
            "stale:WhileRevalidate",
        ),
        (
            "swr beyond",
            vec![("cache-control", "max-age=100, stale-while-revalidate=10")],
            vec![],
            150,
            "revalidate:stale",
        ),
        ("no info is stale", vec![], vec![], 0, "revalidate:stale"),
    ];
    for (name, resp, rq, now, want) in cases {
        assert_eq!(
            kind(decide(
                at(now),
                &req(&rq),
                &entry(&resp),
                &Policy::default()
            )),
            want,
            "{name}"
        );
    }
}

/// RFC 5861 §4: stale-if-error windows; §4.2.4 must-revalidate forbids.
#[test]
fn decides_stale_if_error() {
    let cases: Vec<(&str, Vec<(&str, &str)>, Vec<(&str, &str)>, u64, u64, bool)> = vec![
        (
            "within response window",
            vec![("cache-control", "max-age=10, stale-if-error=60")],
            vec![],
            50,
            0,
            true,
        ),
        (
            "beyond response window",
            vec![("cache-control", "max-age=10, stale-if-error=60")],
            vec![],
            100,
            0,
            false,
        ),
        (
            "request window",
            vec![("cache-control", "max-age=10")],
            vec![("cache-control", "stale-if-error=100")],
            100,
            0,
            true,
        ),
        (
            "operator default",
            vec![("cache-control", "max-age=10")],
            vec![],
            100,
            3600,
            true,
        ),
        (
            "no window at all",
            vec![("cache-control", "max-age=10")],
            vec![],
            10,
            0,
            false,
        ),
        (
            "must-revalidate",
            vec![(
                "cache-control",
                "max-age=10, must-revalidate, stale-if-error=60",
            )],
            vec![],
            20,
            3600,
            false,
        ),
    ];
    for (name, resp, rq, now, default, want) in cases {
        assert_eq!(
            stale_if_error(
                at(now),
                &req(&rq),
                &entry(&resp),
                &Policy::default(),
                default
            ),
            want,
            "{name}"
        );
    }
}

/// A soft purge turns a fresh response stale; swr still applies.
#[test]
fn soft_purge_makes_fresh_stale() {
    let policy = Policy::default();
    let plain = entry(&[("cache-control", "max-age=100")]);
    let swr = entry(&[("cache-control", "max-age=100, stale-while-revalidate=30")]);
    let d = decide(at(1), &req(&[]), &plain, &policy);
    assert_eq!(
        kind(soft_purged(d, &plain, &policy)),
        "revalidate:soft-purged"
    );
    let d = decide(at(1), &req(&[]), &swr, &policy);
    assert_eq!(kind(soft_purged(d, &swr, &policy)), "stale:WhileRevalidate");
}
