use super::*;
use crate::http_cache::policy::SetCookie;
use crate::http_cache::test_support::headers;
use http::Method;
use std::time::Duration;

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
}

const DATE: &str = "Tue, 14 Nov 2023 22:13:20 GMT"; // at(0)

struct Case {
    name: &'static str,
    request: Vec<(&'static str, &'static str)>,
    status: u16,
    response: Vec<(&'static str, &'static str)>,
    set_cookie: SetCookie,
    keyed: Vec<String>,
    /// None: passes with that reason; Some(share): stored, shared or not.
    want: Result<Share, NoCacheReason>,
}

fn run(c: &Case) -> Admission {
    let rq = headers(&c.request);
    let mut rs = headers(&c.response);
    rs.insert(header::DATE, http::HeaderValue::from_static(DATE));
    let primary = key::primary("http", "example.com", "/a");
    let admit_req = Admit {
        request: RequestFacts {
            method: &Method::GET,
            request: &rq,
            request_no_store: false,
            content_location_is_target: false,
            set_cookie: c.set_cookie,
        },
        primary,
        keyed_fields: &c.keyed,
        max_object_bytes: 1000,
        vary: &VaryRules::default(),
    };
    let received = Received {
        status: StatusCode::from_u16(c.status).expect("status"),
        headers: &rs,
        request_time: at(0),
        response_time: at(0),
        purge_seq: 7,
    };
    admit(&admit_req, &received, &Policy::default())
}

fn case(
    name: &'static str,
    request: Vec<(&'static str, &'static str)>,
    response: Vec<(&'static str, &'static str)>,
    want: Result<Share, NoCacheReason>,
) -> Case {
    Case {
        name,
        request,
        status: 200,
        response,
        set_cookie: SetCookie::Pass,
        keyed: Vec::new(),
        want,
    }
}

/// RFC 9111 §3 (storing) and §4 (reuse without validation) decide together
/// what is stored and who may share it.
#[test]
fn admits_and_shares_only_what_could_be_reused() {
    use NoCacheReason as N;
    use RevalidateReason as R;
    let cases = vec![
        case(
            "§4.2.1 fresh max-age: stored and shared",
            vec![],
            vec![("cache-control", "max-age=60")],
            Ok(Share::Waiters),
        ),
        case(
            "§4.2.2 no freshness at all (no Last-Modified): stored, never shared",
            vec![("cookie", "user=a")],
            vec![],
            Ok(Share::Alone(R::Stale)),
        ),
        case(
            "§5.2.2.4 no-cache: stored for revalidation, never shared",
            vec![],
            vec![("cache-control", "max-age=60, no-cache")],
            Ok(Share::Alone(R::ResponseNoCache)),
        ),
        case(
            "§4.2 max-age=0: stale on arrival, never shared",
            vec![],
            vec![("cache-control", "max-age=0"), ("etag", "\"v\"")],
            Ok(Share::Alone(R::Stale)),
        ),
        case(
            "§5.2.2.7 private: not stored",
            vec![],
            vec![("cache-control", "private, max-age=60")],
            Err(N::Private),
        ),
        case(
            "§3.5 Authorization without public/s-maxage: not stored",
            vec![("authorization", "Bearer x")],
            vec![("cache-control", "max-age=60")],
            Err(N::Authorization),
        ),
        case(
            "Set-Cookie under the default policy: passes uncached, even public",
            vec![],
            vec![
                ("cache-control", "public, max-age=60"),
                ("set-cookie", "s=1"),
            ],
            Err(N::SetCookie),
        ),
        case(
            "declared body over the store's limit: passes",
            vec![],
            vec![("cache-control", "max-age=60"), ("content-length", "1001")],
            Err(N::TooLarge),
        ),
        case(
            "§4.1 Vary: *: not stored",
            vec![],
            vec![("cache-control", "max-age=60"), ("vary", "*")],
            Err(N::VaryAny),
        ),
    ];
    for c in &cases {
        let got = match run(c) {
            Admission::Store(a) => Ok(a.share),
            Admission::Pass(r) => Err(r),
        };
        assert_eq!(got, c.want, "{}", c.name);
    }
}

/// Under `strip`, the stored copy carries no Set-Cookie (and no Age or
/// Trailer); the purge sequence and times are kept (§4.2.3).
#[test]
fn strip_policy_stores_without_cookies() {
    let c = Case {
        set_cookie: SetCookie::Strip,
        ..case(
            "strip",
            vec![],
            vec![
                ("cache-control", "max-age=60"),
                ("set-cookie", "s=1"),
                ("age", "5"),
                ("trailer", "x-checksum"),
            ],
            Ok(Share::Waiters),
        )
    };
    let Admission::Store(a) = run(&c) else {
        panic!("stored")
    };
    assert!(!a.meta.headers.contains_key("set-cookie"));
    assert!(!a.meta.headers.contains_key("age"));
    assert!(!a.meta.headers.contains_key("trailer"));
    assert_eq!(a.meta.initial_age, 5);
    assert_eq!(a.meta.purge_seq, 7);
    assert_eq!(a.ttl, 55);
}

/// §4.1: a Vary response goes under a variant key with an index at the
/// primary key; operator-keyed request fields join the selection even
/// without Vary, so one X-Forwarded-Host value never serves another.
#[test]
fn vary_and_keyed_fields_select_the_variant() {
    let primary = key::primary("http", "example.com", "/a");
    let plain = run(&case(
        "plain",
        vec![],
        vec![("cache-control", "max-age=60")],
        Ok(Share::Waiters),
    ));
    let Admission::Store(plain) = plain else {
        panic!("stored")
    };
    assert_eq!(plain.key, primary);
    assert!(plain.vary_index.is_none());

    let keyed = |host: &'static str| {
        let c = Case {
            keyed: vec!["x-forwarded-host".into()],
            ..case(
                "keyed",
                vec![("x-forwarded-host", host), ("accept-language", "en")],
                vec![("cache-control", "max-age=60"), ("vary", "Accept-Language")],
                Ok(Share::Waiters),
            )
        };
        let Admission::Store(a) = run(&c) else {
            panic!("stored")
        };
        a
    };
    let a = keyed("a.example");
    let b = keyed("evil.example");
    assert_ne!(a.key, primary);
    assert_ne!(a.key, b.key, "a keyed field's value selects the variant");
    assert_eq!(
        a.vary_index,
        Some((
            primary,
            vec![
                "accept-language".to_string(),
                "x-forwarded-host".to_string()
            ]
        ))
    );
}

/// §4.1 and §4: a waiter gets the leader's response only when its own
/// request selects the same variant and would reuse it without validation.
#[test]
fn waiters_must_match_and_accept_without_validation() {
    let mut stored = crate::http_cache::test_support::cached(&[
        ("cache-control", "max-age=60"),
        ("vary", "accept-language"),
    ]);
    stored.variant = vec![("accept-language".into(), Some("en".into()))];
    let now = SystemTime::UNIX_EPOCH;
    let policy = Policy::default();
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[("accept-language", "en")], true),
        (&[("accept-language", "de")], false),
        (&[], false),
        (
            &[("accept-language", "en"), ("cache-control", "no-cache")],
            false,
        ),
        (&[("accept-language", "en"), ("pragma", "no-cache")], false),
        (
            &[
                ("accept-language", "en"),
                ("cache-control", "min-fresh=120"),
            ],
            false,
        ),
    ];
    for (fields, want) in cases {
        let h = headers(fields);
        let d = RequestDirectives::from_headers(&h, true);
        assert_eq!(
            waiter_may_use(now, &h, &d, &stored, &policy, &VaryRules::default()).is_some(),
            *want,
            "{fields:?}"
        );
    }
}
