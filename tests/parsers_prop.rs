//! Property tests for the parsers that read network input: Cache-Control,
//! Range and Content-Range, Age, HTTP dates and Expires, Vary, surrogate-key
//! fields, field lists and the stored response metadata.
//!
//! Every parser must accept any input without panicking; where it is cheap,
//! generated well-formed input must also parse to exactly what was rendered.
//! Case counts are kept moderate so the suite runs in seconds in debug.

use edgecache::http_cache::cache_control::{CacheControl, DELTA_SECONDS_CAP, FieldScope, Seconds};
use edgecache::http_cache::cached_response::{
    CachedResponse, StoredMeta, effective_cache_control, http_date,
};
use edgecache::http_cache::freshness::{Lifetime, lifetime};
use edgecache::http_cache::surrogate::{KeyField, KeyLimits};
use edgecache::http_cache::{Policy, age, field_list, range, surrogate, vary};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use proptest::prelude::*;
use std::time::{Duration, SystemTime};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

/// Field-value bytes a header line may carry (no CR, LF or NUL; obs-text allowed).
fn field_value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => 0x20u8..0x7f,
            1 => Just(b'\t'),
            1 => 0x80u8..=0xff,
        ],
        0..64,
    )
}

/// Text made mostly of the characters these grammars care about.
fn syntaxy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(vec![
                ",", "=", "\"", "\\", " ", "\t", "-", "/", "*", ";", "bytes", "max-age",
                "no-cache", "private", "0", "1", "9", "00", "99999999999999999999", "é",
            ])
            .prop_map(String::from),
            1 => "[ -~]{1,3}",
        ],
        0..24,
    )
    .prop_map(|v| v.concat())
}

fn header(name: &str, values: &[Vec<u8>]) -> HeaderMap {
    let mut h = HeaderMap::new();
    let name = HeaderName::from_bytes(name.as_bytes()).expect("test field name");
    for v in values {
        h.append(
            name.clone(),
            HeaderValue::from_bytes(v).expect("generated field value"),
        );
    }
    h
}

/// A quoted-string (RFC 9110 §5.6.4) holding `s`.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

// === Cache-Control ===

/// A directive argument as rendered on the wire.
#[derive(Clone, Debug)]
enum Arg {
    None,
    Digits(String),
    Token(String),
    Quoted(String),
}

fn arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        Just(Arg::None),
        "[0-9]{1,25}".prop_map(Arg::Digits),
        "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}".prop_map(Arg::Token),
        // Quoted text full of what would break a naive splitter.
        "([ -~]|, public|, max-age=1|\\\\|\")*".prop_map(Arg::Quoted),
    ]
}

/// Known directive names (so quoted text that mentions them is probed) and
/// extension names.
fn directive_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "max-age",
            "s-maxage",
            "no-cache",
            "no-store",
            "private",
            "public",
            "must-revalidate",
            "min-fresh",
            "max-stale",
            "stale-if-error",
        ])
        .prop_map(String::from),
        "[a-z][a-z0-9!#$%&'*+.^_`|~-]{0,12}",
    ]
}

fn render(name: &str, arg: &Arg, upper: bool) -> String {
    let name = if upper {
        name.to_ascii_uppercase()
    } else {
        name.to_string()
    };
    match arg {
        Arg::None => name,
        Arg::Digits(d) => format!("{name}={d}"),
        Arg::Token(t) => format!("{name}={t}"),
        Arg::Quoted(q) => format!("{name}={}", quote(q)),
    }
}

/// The delta-seconds rule of RFC 9111 §1.2.2 applied to an argument's text.
fn expected_seconds(arg: &Arg) -> Seconds {
    let text = match arg {
        Arg::None => return Seconds::Invalid,
        Arg::Digits(d) | Arg::Token(d) | Arg::Quoted(d) => d,
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Seconds::Invalid;
    }
    let v = text.bytes().fold(0u128, |acc, b| {
        (acc * 10 + u128::from(b - b'0')).min(1 << 40)
    });
    Seconds::Valid(v.min(u128::from(DELTA_SECONDS_CAP)) as u64)
}

proptest! {
    #![proptest_config(config())]

    /// Any field value parses without panicking, and every accessor answers.
    #[test]
    fn cache_control_accepts_any_value(lines in prop::collection::vec(field_value(), 0..3), text in syntaxy()) {
        for cc in [CacheControl::from_headers(&header("cache-control", &lines), "cache-control"), CacheControl::parse(&text)] {
            for s in [cc.max_age(), cc.s_maxage(), cc.min_fresh()].into_iter().flatten() {
                if let Seconds::Valid(v) = s {
                    prop_assert!(v <= DELTA_SECONDS_CAP);
                }
            }
            let _ = (cc.no_store(), cc.no_cache(), cc.private(), cc.public(), cc.max_stale());
            let _ = (cc.must_revalidate(), cc.proxy_revalidate(), cc.must_understand(), cc.only_if_cached());
            let _ = (cc.stale_while_revalidate(), cc.stale_if_error(), cc.is_empty());
            if let Some(FieldScope::Fields(f)) = cc.no_cache() {
                prop_assert!(f.iter().all(|n| !n.is_empty() && *n == n.to_ascii_lowercase()));
            }
        }
    }

    /// Rendered directives parse back: each name is present, delta-seconds
    /// read back as their (capped) value, quoted text never leaks directives,
    /// and one line, several lines or extra empty members parse the same.
    #[test]
    fn cache_control_parses_what_was_rendered(
        set in prop::collection::btree_map(directive_name(), arg(), 0..8),
        upper in any::<bool>(),
    ) {
        let rendered: Vec<String> = set.iter().map(|(n, a)| render(n, a, upper)).collect();
        let one_line = rendered.join(", ");
        let cc = CacheControl::parse(&one_line);
        for (name, a) in &set {
            prop_assert!(cc.has(name), "{name} missing from {one_line:?}");
            prop_assert_eq!(cc.seconds(name), Some(expected_seconds(a)), "{}", one_line);
        }
        for probe in ["public", "max-age", "no-store", "private", "no-cache"] {
            prop_assert_eq!(cc.has(probe), set.contains_key(probe), "{} in {:?}", probe, one_line);
        }
        let lines: Vec<Vec<u8>> = rendered.iter().map(|r| r.clone().into_bytes()).collect();
        prop_assert_eq!(&CacheControl::from_headers(&header("cache-control", &lines), "cache-control"), &cc);
        let padded = format!(" ,\t{} ,, ", rendered.join(" ,\t"));
        prop_assert_eq!(&CacheControl::parse(&padded), &cc);
    }

    /// `private="a, b"` and `no-cache="a"` name exactly their (lower-cased) fields.
    #[test]
    fn cache_control_field_scopes_round_trip(fields in prop::collection::vec("[A-Za-z][A-Za-z0-9-]{0,10}", 1..5)) {
        let list = fields.join(", ");
        let cc = CacheControl::parse(&format!("no-store, private={}, no-cache", quote(&list)));
        let want: Vec<String> = fields.iter().map(|f| f.to_ascii_lowercase()).collect();
        prop_assert_eq!(cc.private(), Some(FieldScope::Fields(want)));
        prop_assert_eq!(cc.no_cache(), Some(FieldScope::All));
        prop_assert!(cc.no_store());
    }
}

// === Range and Content-Range ===

/// One range-spec: `first-last`, `first-` or `-suffix`.
#[derive(Clone, Debug)]
enum Spec {
    Closed(u64, u64),
    Open(u64),
    Suffix(u64),
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (0u64..2000, 0u64..2000).prop_map(|(a, n)| Spec::Closed(a, a + n)),
        (0u64..2000).prop_map(Spec::Open),
        (0u64..2000).prop_map(Spec::Suffix),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Spec::Closed(a.min(b), a.max(b))),
    ]
}

/// Bytes of a `len`-byte representation that `spec` selects, if any (RFC 9110 §14.1.2).
fn satisfied(spec: &Spec, len: u64) -> Option<(u64, u64)> {
    match *spec {
        Spec::Closed(a, b) => (a < len).then(|| (a, b.min(len - 1))),
        Spec::Open(a) => (a < len).then(|| (a, len - 1)),
        Spec::Suffix(n) => (n > 0 && len > 0).then(|| (len.saturating_sub(n), len - 1)),
    }
}

/// The set of bytes covered, as sorted, disjoint, non-adjacent intervals.
fn union(mut spans: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn stored_200() -> CachedResponse {
    CachedResponse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        request_time: SystemTime::UNIX_EPOCH,
        response_time: SystemTime::UNIX_EPOCH,
        initial_age: 0,
        variant: vec![],
        purge_seq: 0,
        surrogate_keys: vec![],
    }
}

proptest! {
    #![proptest_config(config())]

    /// Whatever the Range value, every range returned lies inside the representation.
    #[test]
    fn range_results_lie_within_the_representation(text in prop_oneof![syntaxy(), "bytes=[0-9, -]{0,40}"], len in prop_oneof![Just(0u64), 1u64..5000, any::<u64>()]) {
        if let Some(ranges) = range::parse(&text, len) {
            for (a, b) in ranges {
                prop_assert!(a <= b && b < len, "({a}, {b}) of {len} from {text:?}");
            }
        }
    }

    /// A rendered range set is valid, and selects exactly the bytes its specs name.
    #[test]
    fn range_selects_the_bytes_its_specs_name(specs in prop::collection::vec(spec(), 1..6), len in 0u64..3000, spaced in any::<bool>()) {
        let text = specs.iter().map(|s| match *s {
            Spec::Closed(a, b) => format!("{a}-{b}"),
            Spec::Open(a) => format!("{a}-"),
            Spec::Suffix(n) => format!("-{n}"),
        }).collect::<Vec<_>>().join(if spaced { " , " } else { "," });
        let value = format!("bytes={text}");
        let got = range::parse(&value, len);
        prop_assert!(got.is_some(), "valid set {value:?} ignored");
        let got = got.unwrap_or_default();
        let want: Vec<(u64, u64)> = specs.iter().filter_map(|s| satisfied(s, len)).collect();
        prop_assert_eq!(got.is_empty(), want.is_empty(), "{}", value);
        prop_assert_eq!(union(got), union(want), "{}", value);
    }

    /// A GET's 206 answer never names a byte outside the stored body.
    #[test]
    fn range_answers_stay_inside_the_body(value in field_value(), len in 0u64..5000) {
        let request = header("range", &[value]);
        match range::answer(&Method::GET, &request, &stored_200(), len) {
            range::RangeAnswer::Partial(parts) => {
                prop_assert!(!parts.is_empty());
                prop_assert!(parts.iter().all(|&(a, b)| a <= b && b < len));
            }
            range::RangeAnswer::Full | range::RangeAnswer::Unsatisfiable => {}
        }
    }

    /// Content-Range parses `bytes first-last/complete` back exactly, and only when consistent.
    #[test]
    fn content_range_round_trips(first in any::<u64>(), last in any::<u64>(), complete in any::<u64>(), text in syntaxy()) {
        let got = range::parse_content_range(&format!("bytes {first}-{last}/{complete}"));
        let valid = first <= last && last < complete;
        prop_assert_eq!(got, valid.then_some((first, last, complete)));
        if let Some((a, b, c)) = range::parse_content_range(&text) {
            prop_assert!(a <= b && b < c);
        }
    }
}

// === Age, HTTP dates, Expires ===

proptest! {
    #![proptest_config(config())]

    /// A valid Age (digits, optional surrounding whitespace) parses to its
    /// value, capped at 2^31.
    #[test]
    fn age_parses_its_value(v in any::<u64>(), zeros in 0usize..4, pad in "[ \t]{0,2}") {
        let text = format!("{pad}{}{v}{pad}", "0".repeat(zeros));
        let h = header("age", &[text.into_bytes()]);
        prop_assert_eq!(age::age_value(&h), Some(v.min(DELTA_SECONDS_CAP)));
    }

    /// RFC 9111 §5.1: the first member of a list-based Age is used and an
    /// invalid one is ignored; a valid one is never read as smaller than it
    /// is (§1.2.2: past the cap it is the cap); of two lines, the first.
    #[test]
    fn age_uses_its_first_member_and_ignores_an_invalid_one(value in field_value(), v in any::<u32>(), w in any::<u32>()) {
        let h = header("age", std::slice::from_ref(&value));
        let got = age::age_value(&h);
        let text = String::from_utf8_lossy(&value).to_string();
        let first = text.split(',').next().unwrap_or("").split(';').next().unwrap_or("");
        let first = first.trim_matches([' ', '\t']);
        let valid = std::str::from_utf8(&value).is_ok()
            && !first.is_empty()
            && first.bytes().all(|b| b.is_ascii_digit());
        if valid {
            let want = first.trim_start_matches('0').parse::<u128>().unwrap_or(0);
            prop_assert_eq!(got, Some(want.min(u128::from(DELTA_SECONDS_CAP)) as u64), "{:?}", text);
        } else {
            prop_assert_eq!(got, None, "{:?}", text);
        }
        let two = header("age", &[v.to_string().into_bytes(), w.to_string().into_bytes()]);
        prop_assert_eq!(age::age_value(&two), Some(u64::from(v).min(DELTA_SECONDS_CAP)));
    }

    /// §4.2.3: the corrected initial age is at least the Age value, and the
    /// current age never drops below it, whatever the clocks say.
    #[test]
    fn ages_never_go_backwards(
        age_value in prop::option::of(0u64..=DELTA_SECONDS_CAP),
        times in prop::collection::vec(0u64..4_000_000_000, 4),
        has_date in any::<bool>(),
    ) {
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let date = has_date.then(|| t(times[0]));
        let initial = age::initial_age(age_value, date, t(times[1]), t(times[2]));
        prop_assert!(initial >= age_value.unwrap_or(0));
        prop_assert!(age::current_age(initial, t(times[2]), t(times[3])) >= initial);
    }

    /// HTTP dates round-trip through the IMF-fixdate form, and any field
    /// value parses or not without panicking.
    #[test]
    fn http_dates_round_trip(secs in 0u64..253_402_300_799, value in field_value(), text in syntaxy()) {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let rendered = HeaderValue::from_str(&httpdate::fmt_http_date(t)).expect("date text");
        prop_assert_eq!(http_date(&rendered), Some(t));
        let _ = http_date(&HeaderValue::from_bytes(&value).expect("generated field value"));
        let _ = httpdate::parse_http_date(&text);
    }

    /// Expires minus Date is the lifetime when no Cache-Control overrides it,
    /// and arbitrary Expires, Date and Last-Modified values never panic.
    #[test]
    fn expires_gives_the_lifetime(
        date in 0u64..4_000_000_000,
        delta in 0u64..1_000_000_000,
        junk in prop::collection::vec(field_value(), 4),
        status in 100u16..600,
    ) {
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let policy = Policy::default();
        let mut h = HeaderMap::new();
        h.insert("date", HeaderValue::from_str(&httpdate::fmt_http_date(t(date))).expect("date"));
        h.insert("expires", HeaderValue::from_str(&httpdate::fmt_http_date(t(date + delta))).expect("date"));
        let eff = effective_cache_control(&h, &policy);
        prop_assert_eq!(lifetime(StatusCode::OK, &h, &eff, t(0), &policy), Lifetime::Explicit(delta));

        let mut h = HeaderMap::new();
        for (name, v) in ["date", "expires", "last-modified", "cache-control"].iter().zip(&junk) {
            h.insert(*name, HeaderValue::from_bytes(v).expect("generated field value"));
        }
        let eff = effective_cache_control(&h, &policy);
        let status = StatusCode::from_u16(status).expect("status in range");
        let _ = lifetime(status, &h, &eff, t(date), &policy).secs();
    }
}

// === Vary ===

proptest! {
    #![proptest_config(config())]

    /// Any Vary parses to `*`, nothing, or lower-case, sorted, distinct names.
    #[test]
    fn vary_parses_any_value(lines in prop::collection::vec(field_value(), 0..3)) {
        match vary::parse(&header("vary", &lines)) {
            vary::Vary::Fields(names) => {
                prop_assert!(!names.is_empty());
                prop_assert!(names.windows(2).all(|w| w[0] < w[1]), "{:?}", names);
                prop_assert!(names.iter().all(|n| !n.is_empty() && *n != "*" && *n == n.to_ascii_lowercase()));
            }
            vary::Vary::Any | vary::Vary::None => {}
        }
    }

    /// Rendered field names come back lower-cased, sorted and de-duplicated.
    #[test]
    fn vary_names_round_trip(names in prop::collection::vec("[A-Za-z][A-Za-z0-9-]{0,12}", 1..6)) {
        let got = vary::parse(&header("vary", &[names.join(", ").into_bytes()]));
        let want: std::collections::BTreeSet<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        prop_assert_eq!(got, vary::Vary::Fields(want.into_iter().collect()));
    }

    /// A request always selects the variant made from its own fields, and
    /// Accept-Language members in another order and case select it too.
    #[test]
    fn a_request_matches_its_own_variant(
        values in prop::collection::vec(prop::option::of(field_value()), 3),
        langs in prop::collection::vec("[a-z]{2}(;q=0\\.[1-9])?", 1..4),
        rotate in 0usize..4,
    ) {
        let names = ["accept-encoding".to_string(), "accept-language".to_string(), "x-device".to_string()];
        let mut request = HeaderMap::new();
        for (name, v) in names.iter().zip(&values) {
            if let Some(v) = v {
                request.insert(HeaderName::from_bytes(name.as_bytes()).expect("name"), HeaderValue::from_bytes(v).expect("value"));
            }
        }
        let stored = vary::selected(&names, &request, &Default::default());
        prop_assert!(vary::matches(&stored, &request, &Default::default()));

        let lang_request = header("accept-language", &[langs.join(", ").into_bytes()]);
        let stored = vary::selected(&names[1..2], &lang_request, &Default::default());
        let mut shuffled: Vec<String> = langs.iter().map(|l| l.to_ascii_uppercase()).collect();
        let n = shuffled.len();
        shuffled.rotate_left(rotate % n);
        prop_assert!(vary::matches(&stored, &header("accept-language", &[shuffled.join(",").into_bytes()]), &Default::default()));
    }
}

// === Surrogate keys ===

fn key_fields() -> Vec<KeyField> {
    vec![
        KeyField {
            name: "surrogate-key".into(),
            separator: ' ',
        },
        KeyField {
            name: "cache-tag".into(),
            separator: ',',
        },
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any field values give distinct, trimmed, non-empty keys within the limits.
    #[test]
    fn surrogate_keys_respect_limits(
        sk in prop::collection::vec(field_value(), 0..3),
        tags in prop::collection::vec(field_value(), 0..3),
        max_keys in 0usize..10,
        max_len in 0usize..20,
    ) {
        let mut h = header("surrogate-key", &sk);
        h.extend(header("cache-tag", &tags));
        let got = surrogate::keys(&h, &key_fields(), KeyLimits { max_keys, max_len });
        prop_assert!(got.keys.len() <= max_keys);
        for (i, k) in got.keys.iter().enumerate() {
            prop_assert!(!k.is_empty() && k.len() <= max_len && k.trim() == k);
            prop_assert!(!got.keys[..i].contains(k), "duplicate {k:?}");
        }
    }

    /// Distinct keys come back in order; those past `max_keys` are counted as overflow.
    #[test]
    fn surrogate_keys_round_trip(
        keys in prop::collection::btree_set("[A-Za-z0-9_./:-]{1,16}", 0..12),
        max_keys in 0usize..12,
        comma in any::<bool>(),
    ) {
        let keys: Vec<String> = keys.into_iter().collect();
        let (name, sep) = if comma { ("cache-tag", ", ") } else { ("surrogate-key", "  ") };
        let h = header(name, &[keys.join(sep).into_bytes()]);
        let got = surrogate::keys(&h, &key_fields(), KeyLimits { max_keys, max_len: 16 });
        let kept = keys.len().min(max_keys);
        prop_assert_eq!(&got.keys[..], &keys[..kept]);
        prop_assert_eq!(got.overflow, keys.len() - kept);
    }
}

// === Field lists ===

/// A list member: a token, or a token with a quoted argument holding commas.
fn member() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,8}",
        ("[a-z]{1,6}", "[ -~]{0,12}").prop_map(|(n, q)| format!("{n}={}", quote(&q))),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Splitting never yields an empty or untrimmed member, whatever the input.
    #[test]
    fn split_members_are_trimmed_and_non_empty(text in prop_oneof![syntaxy(), any::<String>()]) {
        for m in field_list::split(&text) {
            prop_assert!(!m.is_empty());
            prop_assert!(!m.starts_with([' ', '\t']) && !m.ends_with([' ', '\t']), "{:?}", m);
        }
        let _ = field_list::unquote(&text);
    }

    /// Rendered members split back exactly (commas inside quotes stay), on
    /// one line or across several.
    #[test]
    fn split_round_trips_members(members in prop::collection::vec(member(), 0..6)) {
        prop_assert_eq!(&field_list::split(&members.join(" ,\t")), &members);
        let lines: Vec<Vec<u8>> = members.iter().map(|m| m.clone().into_bytes()).collect();
        prop_assert_eq!(&field_list::members(&header("x-list", &lines), "x-list"), &members);
    }

    /// Unquoting a quoted string gives back the original text.
    #[test]
    fn unquote_inverts_quote(s in "[ -~\t]*") {
        prop_assert_eq!(field_list::unquote(&quote(&s)), s);
    }
}

// === Stored response metadata ===

proptest! {
    #![proptest_config(config())]

    /// Metadata read back from disk is arbitrary bytes after damage: it
    /// decodes to an error or a value, never a panic.
    #[test]
    fn stored_meta_decodes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300), prefix in 0u8..4) {
        let _ = StoredMeta::decode(&bytes);
        let mut with_version = vec![prefix, 1];
        with_version.extend_from_slice(&bytes);
        let _ = StoredMeta::decode(&with_version);
        let _ = StoredMeta::decode_shared(&bytes::Bytes::from(with_version));
    }

    /// Encoded metadata decodes back to itself.
    #[test]
    fn stored_meta_round_trips(
        fields in prop::collection::btree_map("[a-z][a-z0-9-]{0,10}", field_value(), 0..6),
        variant in prop::collection::vec(("[a-z]{1,8}", prop::option::of("[ -~]{0,10}")), 0..3),
        keys in prop::collection::vec("[a-z0-9]{1,8}", 0..4),
        status in 200u16..600,
        times in (0u64..4_000_000_000_000, 0u64..4_000_000_000_000, any::<u32>(), any::<u64>()),
    ) {
        let mut headers = HeaderMap::new();
        for (n, v) in &fields {
            headers.append(HeaderName::from_bytes(n.as_bytes()).expect("name"), HeaderValue::from_bytes(v).expect("value"));
        }
        let meta = StoredMeta::Response(CachedResponse {
            status: StatusCode::from_u16(status).expect("status"),
            headers,
            request_time: SystemTime::UNIX_EPOCH + Duration::from_millis(times.0),
            response_time: SystemTime::UNIX_EPOCH + Duration::from_millis(times.1),
            initial_age: u64::from(times.2),
            variant,
            purge_seq: times.3,
            surrogate_keys: keys,
        });
        prop_assert_eq!(StoredMeta::decode(&meta.encode()), Ok(meta.clone()));
        let index = StoredMeta::VaryIndex(edgecache::http_cache::vary_index::VaryIndex {
            names: fields.keys().cloned().collect(),
            variants: vec![storage::ObjectKey([times.2 as u8; 32])],
        });
        prop_assert_eq!(StoredMeta::decode(&index.encode()), Ok(index.clone()));
    }
}
