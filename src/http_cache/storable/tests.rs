use super::*;
use crate::http_cache::cached_response::effective_cache_control;
use crate::http_cache::policy::Policy;

fn run(method: &str, req: &[(&str, &str)], status: u16, resp: &[(&str, &str)]) -> Storable {
    let rq = crate::http_cache::test_support::headers(req);
    let rs = crate::http_cache::test_support::headers(resp);
    let eff = effective_cache_control(&rs, &Policy::default());
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let ex = RequestFacts {
        method: &method,
        request: &rq,
        request_no_store: false,
        content_location_is_target: rs.get("content-location").is_some_and(|v| v == "/same"),
        set_cookie: match rq.get("x-test-cookie-rule").map(|v| v.as_bytes()) {
            Some(b"pass") => crate::http_cache::policy::SetCookie::Pass,
            Some(b"strip") => crate::http_cache::policy::SetCookie::Strip,
            _ => crate::http_cache::policy::SetCookie::Rfc9111,
        },
    };
    storable(
        &ex,
        StatusCode::from_u16(status).expect("status"),
        &rs,
        &eff,
    )
}

fn yes() -> Storable {
    Storable::Yes { strip: vec![] }
}

/// RFC 9111 §3 storage rules, §3.5 Authorization, §5.2.2.3 must-understand.
#[test]
fn applies_section_3() {
    use NoCacheReason::*;
    let cases: Vec<(
        &str,
        &str,
        Vec<(&str, &str)>,
        u16,
        Vec<(&str, &str)>,
        Storable,
    )> = vec![
        (
            "max-age",
            "GET",
            vec![],
            200,
            vec![("cache-control", "max-age=5")],
            yes(),
        ),
        (
            "POST",
            "POST",
            vec![],
            200,
            vec![("cache-control", "max-age=5")],
            Storable::No(Method),
        ),
        (
            "POST with its own Content-Location",
            "POST",
            vec![],
            200,
            vec![
                ("cache-control", "max-age=5"),
                ("content-location", "/same"),
            ],
            yes(),
        ),
        (
            "POST without explicit freshness",
            "POST",
            vec![],
            200,
            vec![("content-location", "/same")],
            Storable::No(Method),
        ),
        (
            "no-store",
            "GET",
            vec![],
            200,
            vec![("cache-control", "max-age=5, no-store")],
            Storable::No(ResponseNoStore),
        ),
        (
            "private",
            "GET",
            vec![],
            200,
            vec![("cache-control", "private, max-age=5")],
            Storable::No(Private),
        ),
        (
            "qualified private",
            "GET",
            vec![],
            200,
            vec![("cache-control", "private=\"x-a\", max-age=5")],
            Storable::Yes {
                strip: vec!["x-a".into()],
            },
        ),
        ("heuristic 200", "GET", vec![], 200, vec![], yes()),
        ("heuristic 404", "GET", vec![], 404, vec![], yes()),
        (
            "302 without info",
            "GET",
            vec![],
            302,
            vec![],
            Storable::No(NoFreshnessInfo),
        ),
        (
            "302 with expires",
            "GET",
            vec![],
            302,
            vec![("expires", "Thu, 01 Jan 2099 00:00:00 GMT")],
            yes(),
        ),
        (
            "302 public",
            "GET",
            vec![],
            302,
            vec![("cache-control", "public")],
            yes(),
        ),
        (
            "206 without Content-Range",
            "GET",
            vec![],
            206,
            vec![("cache-control", "max-age=5")],
            Storable::No(Status),
        ),
        (
            "206 with a single byte range",
            "GET",
            vec![],
            206,
            vec![
                ("cache-control", "max-age=5"),
                ("content-range", "bytes 4-9/10"),
            ],
            yes(),
        ),
        (
            "206 whose Content-Length disagrees with Content-Range",
            "GET",
            vec![],
            206,
            vec![
                ("cache-control", "max-age=5"),
                ("content-range", "bytes 4-9/10"),
                ("content-length", "36"),
            ],
            Storable::No(Status),
        ),
        (
            "206 of unknown length",
            "GET",
            vec![],
            206,
            vec![
                ("cache-control", "max-age=5"),
                ("content-range", "bytes 4-9/*"),
            ],
            Storable::No(Status),
        ),
        (
            "auth no",
            "GET",
            vec![("authorization", "x")],
            200,
            vec![("cache-control", "max-age=5")],
            Storable::No(Authorization),
        ),
        (
            "auth public",
            "GET",
            vec![("authorization", "x")],
            200,
            vec![("cache-control", "public, max-age=5")],
            yes(),
        ),
        (
            "auth s-maxage",
            "GET",
            vec![("authorization", "x")],
            200,
            vec![("cache-control", "s-maxage=5")],
            yes(),
        ),
        (
            "auth must-revalidate",
            "GET",
            vec![("authorization", "x")],
            200,
            vec![("cache-control", "must-revalidate, max-age=5")],
            yes(),
        ),
        (
            "cookie, RFC rules",
            "GET",
            vec![],
            200,
            vec![("cache-control", "max-age=5"), ("set-cookie", "a=b")],
            yes(),
        ),
        (
            "cookie, pass (the default): never stored, even public",
            "GET",
            vec![("x-test-cookie-rule", "pass")],
            200,
            vec![
                ("cache-control", "public, max-age=5"),
                ("set-cookie", "a=b"),
            ],
            Storable::No(SetCookie),
        ),
        (
            "cookie, pass: s-maxage and CDN-Cache-Control do not override it",
            "GET",
            vec![("x-test-cookie-rule", "pass")],
            200,
            vec![("cdn-cache-control", "max-age=5"), ("set-cookie", "a=b")],
            Storable::No(SetCookie),
        ),
        (
            "cookie, pass: the obsolete Set-Cookie2 (RFC 6265 §9.4) is an ordinary field",
            "GET",
            vec![("x-test-cookie-rule", "pass")],
            200,
            vec![("cache-control", "s-maxage=5"), ("set-cookie2", "a=b")],
            Storable::Yes { strip: vec![] },
        ),
        (
            "cookie, strip: stored without the cookie fields",
            "GET",
            vec![("x-test-cookie-rule", "strip")],
            200,
            vec![("cache-control", "max-age=5"), ("set-cookie", "a=b")],
            Storable::Yes {
                strip: vec!["set-cookie".into()],
            },
        ),
        (
            "vary star",
            "GET",
            vec![],
            200,
            vec![("cache-control", "max-age=5"), ("vary", "*")],
            Storable::No(VaryAny),
        ),
        (
            "must-understand overrides no-store",
            "GET",
            vec![],
            200,
            vec![("cache-control", "max-age=5, no-store, must-understand")],
            yes(),
        ),
        (
            "must-understand unknown status",
            "GET",
            vec![],
            299,
            vec![("cache-control", "max-age=5, no-store, must-understand")],
            Storable::No(Status),
        ),
        (
            "targeted no-store",
            "GET",
            vec![],
            200,
            vec![
                ("cache-control", "max-age=5"),
                ("cdn-cache-control", "no-store"),
            ],
            Storable::No(ResponseNoStore),
        ),
        (
            "targeted lifts cc no-store",
            "GET",
            vec![],
            200,
            vec![
                ("cache-control", "no-store"),
                ("cdn-cache-control", "max-age=5"),
            ],
            yes(),
        ),
    ];
    for (name, method, req, status, resp, want) in cases {
        assert_eq!(run(method, &req, status, &resp), want, "{name}");
    }
}
