//! Cache-Control (RFC 9111 §5.2) and the targeted fields of RFC 9213, parsed
//! once into a typed value and read through named methods.

use super::field_list::{split, unquote};
use http::HeaderMap;
use std::borrow::Cow;

/// The largest delta-seconds value we keep: RFC 9111 §1.2.2 says a value that
/// overflows "MUST be considered to be 2147483648".
pub const DELTA_SECONDS_CAP: u64 = 2_147_483_648;

/// A parsed delta-seconds argument (RFC 9111 §1.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seconds {
    /// A valid value, capped at [`DELTA_SECONDS_CAP`].
    Valid(u64),
    /// Present but not a valid delta-seconds (empty, signed, fractional, text)
    /// or given twice with different values.
    Invalid,
}

impl Seconds {
    /// The value when valid.
    pub fn valid(self) -> Option<u64> {
        match self {
            Seconds::Valid(s) => Some(s),
            Seconds::Invalid => None,
        }
    }
}

/// The argument of `no-cache` or `private` (RFC 9111 §5.2.2.4, §5.2.2.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldScope {
    /// Unqualified: the directive applies to the whole response.
    All,
    /// Qualified: the directive applies only to these fields (lower-case).
    Fields(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Directive {
    /// Lower-case; the names below are borrowed, others owned.
    name: Cow<'static, str>,
    value: Option<String>,
}

/// The directive names of RFC 9111 §5.2 and RFC 5861: parsed without
/// allocating (a Cache-Control is parsed on every miss and pass, and a
/// request's on every request that carries one).
const KNOWN: [&str; 16] = [
    "max-age",
    "s-maxage",
    "no-cache",
    "no-store",
    "no-transform",
    "must-revalidate",
    "proxy-revalidate",
    "must-understand",
    "private",
    "public",
    "immutable",
    "stale-while-revalidate",
    "stale-if-error",
    "only-if-cached",
    "max-stale",
    "min-fresh",
];

/// `name` in lower case: a known name borrowed, another one owned.
fn lower_name(name: &str) -> Cow<'static, str> {
    match KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(name.to_ascii_lowercase()),
    }
}

/// A parsed Cache-Control (or targeted) field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheControl {
    directives: Vec<Directive>,
}

impl CacheControl {
    /// Parse every line of `name` in `headers` as one Cache-Control list.
    pub fn from_headers<K: http::header::AsHeaderName>(
        headers: &HeaderMap,
        name: K,
    ) -> CacheControl {
        let mut cc = CacheControl::default();
        for v in headers.get_all(name) {
            cc.extend_from(&String::from_utf8_lossy(v.as_bytes()));
        }
        cc
    }

    /// Parse one field value.
    pub fn parse(value: &str) -> CacheControl {
        let mut cc = CacheControl::default();
        cc.extend_from(value);
        cc
    }

    fn extend_from(&mut self, value: &str) {
        for member in split(value) {
            let (name, val) = match member.split_once('=') {
                Some((n, v)) => (n.trim(), Some(unquote(v))),
                None => (member.trim(), None),
            };
            if name.is_empty() || !name.bytes().all(is_tchar) {
                continue;
            }
            self.directives.push(Directive {
                name: lower_name(name),
                value: val,
            });
        }
    }

    /// True when no directive was parsed.
    pub fn is_empty(&self) -> bool {
        self.directives.is_empty()
    }

    /// True when the directive `name` (lower-case) is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.directives.iter().any(|d| d.name == name)
    }

    /// A delta-seconds directive. Duplicates that disagree are `Invalid`
    /// (RFC 9111 §4.2.1: "consider the response to be stale").
    pub fn seconds(&self, name: &str) -> Option<Seconds> {
        let mut found: Option<Seconds> = None;
        for d in self.directives.iter().filter(|d| d.name == name) {
            let s = parse_delta_seconds(d.value.as_deref());
            found = match found {
                None => Some(s),
                Some(prev) if prev == s => Some(prev),
                Some(_) => Some(Seconds::Invalid),
            };
        }
        found
    }

    fn scope(&self, name: &str) -> Option<FieldScope> {
        let mut scope: Option<FieldScope> = None;
        for d in self.directives.iter().filter(|d| d.name == name) {
            let this = match d.value.as_deref().map(str::trim) {
                None | Some("") => FieldScope::All,
                Some(v) => FieldScope::Fields(
                    split(v)
                        .into_iter()
                        .map(|f| f.to_ascii_lowercase())
                        .collect(),
                ),
            };
            scope = Some(match (scope, this) {
                (Some(FieldScope::All), _) | (_, FieldScope::All) => FieldScope::All,
                (Some(FieldScope::Fields(mut a)), FieldScope::Fields(b)) => {
                    a.extend(b);
                    FieldScope::Fields(a)
                }
                (None, f) => f,
            });
        }
        scope
    }

    /// `max-age` (§5.2.1.1 request, §5.2.2.1 response).
    pub fn max_age(&self) -> Option<Seconds> {
        self.seconds("max-age")
    }
    /// `s-maxage` (§5.2.2.10).
    pub fn s_maxage(&self) -> Option<Seconds> {
        self.seconds("s-maxage")
    }
    /// `no-store` (§5.2.1.5, §5.2.2.5).
    pub fn no_store(&self) -> bool {
        self.has("no-store")
    }
    /// `no-cache` (§5.2.1.4 request; §5.2.2.4 response, possibly qualified).
    pub fn no_cache(&self) -> Option<FieldScope> {
        self.scope("no-cache")
    }
    /// `private` (§5.2.2.7, possibly qualified).
    pub fn private(&self) -> Option<FieldScope> {
        self.scope("private")
    }
    /// `public` (§5.2.2.9).
    pub fn public(&self) -> bool {
        self.has("public")
    }
    /// `must-revalidate` (§5.2.2.2).
    pub fn must_revalidate(&self) -> bool {
        self.has("must-revalidate")
    }
    /// `proxy-revalidate` (§5.2.2.8).
    pub fn proxy_revalidate(&self) -> bool {
        self.has("proxy-revalidate")
    }
    /// `must-understand` (§5.2.2.3).
    pub fn must_understand(&self) -> bool {
        self.has("must-understand")
    }
    /// `max-stale` (§5.2.1.2): `Some(None)` when given without a value (any staleness).
    pub fn max_stale(&self) -> Option<Option<Seconds>> {
        self.directives
            .iter()
            .find(|d| d.name == "max-stale")
            .map(|d| d.value.as_deref().map(|v| parse_delta_seconds(Some(v))))
    }
    /// `min-fresh` (§5.2.1.3).
    pub fn min_fresh(&self) -> Option<Seconds> {
        self.seconds("min-fresh")
    }
    /// `only-if-cached` (§5.2.1.7).
    pub fn only_if_cached(&self) -> bool {
        self.has("only-if-cached")
    }
    /// `stale-while-revalidate` (RFC 5861 §3).
    pub fn stale_while_revalidate(&self) -> Option<u64> {
        self.seconds("stale-while-revalidate")
            .and_then(Seconds::valid)
    }
    /// `stale-if-error` (RFC 5861 §4).
    pub fn stale_if_error(&self) -> Option<u64> {
        self.seconds("stale-if-error").and_then(Seconds::valid)
    }
}

fn parse_delta_seconds(v: Option<&str>) -> Seconds {
    let Some(v) = v else { return Seconds::Invalid };
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Seconds::Invalid;
    }
    // Any digit string is valid; one too large to represent is capped (§1.2.2).
    let n = v.trim_start_matches('0');
    if n.len() > 10 {
        return Seconds::Valid(DELTA_SECONDS_CAP);
    }
    Seconds::Valid(n.parse::<u64>().unwrap_or(0).min(DELTA_SECONDS_CAP))
}

pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9111 §1.2.2 delta-seconds and §5.2 directive syntax.
    #[test]
    fn parses_delta_seconds() {
        let cases: &[(&str, Option<Seconds>)] = &[
            ("max-age=60", Some(Seconds::Valid(60))),
            ("MAX-AGE=60", Some(Seconds::Valid(60))),
            ("max-age=\"60\"", Some(Seconds::Valid(60))),
            ("max-age=0060", Some(Seconds::Valid(60))),
            ("max-age=-1", Some(Seconds::Invalid)),
            ("max-age=1.5", Some(Seconds::Invalid)),
            ("max-age=abc", Some(Seconds::Invalid)),
            ("max-age=", Some(Seconds::Invalid)),
            ("max-age", Some(Seconds::Invalid)),
            (
                "max-age=99999999999999999999",
                Some(Seconds::Valid(DELTA_SECONDS_CAP)),
            ),
            (
                "max-age=2147483649",
                Some(Seconds::Valid(DELTA_SECONDS_CAP)),
            ),
            ("max-age=10, max-age=10", Some(Seconds::Valid(10))),
            ("max-age=10, max-age=20", Some(Seconds::Invalid)),
            ("public", None),
            ("private=\"max-age=5\"", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                CacheControl::parse(input).max_age(),
                *want,
                "input {input:?}"
            );
        }
    }

    /// RFC 9111 §5.2.2.4 and §5.2.2.7: qualified forms and quoted commas.
    #[test]
    fn parses_field_scopes() {
        let cc = CacheControl::parse("private=\"set-cookie, x-a\", no-cache");
        assert_eq!(
            cc.private(),
            Some(FieldScope::Fields(vec!["set-cookie".into(), "x-a".into()]))
        );
        assert_eq!(cc.no_cache(), Some(FieldScope::All));
        assert_eq!(CacheControl::parse("max-age=1").no_cache(), None);
        assert_eq!(
            CacheControl::parse("no-cache=\"a\", no-cache").no_cache(),
            Some(FieldScope::All)
        );
    }

    #[test]
    fn parses_request_directives() {
        let cc = CacheControl::parse("max-stale, min-fresh=5, only-if-cached");
        assert_eq!(cc.max_stale(), Some(None));
        assert_eq!(cc.min_fresh(), Some(Seconds::Valid(5)));
        assert!(cc.only_if_cached());
        assert_eq!(
            CacheControl::parse("max-stale=7").max_stale(),
            Some(Some(Seconds::Valid(7)))
        );
    }

    #[test]
    fn multiple_lines_combine() {
        let mut h = HeaderMap::new();
        h.append("cache-control", "public".parse().expect("valid"));
        h.append("cache-control", "max-age=5".parse().expect("valid"));
        let cc = CacheControl::from_headers(&h, "cache-control");
        assert!(cc.public());
        assert_eq!(cc.max_age(), Some(Seconds::Valid(5)));
    }

    /// §5.2: directive names are case-insensitive, known or not (known
    /// names are held without allocating, others lower-cased).
    #[test]
    fn names_match_in_any_case() {
        let cc = CacheControl::parse("No-Store, X-Custom-Ext=1, STALE-IF-ERROR=30, s-MaxAge=7");
        assert!(cc.has("no-store"));
        assert!(cc.has("x-custom-ext"));
        assert_eq!(cc.seconds("stale-if-error"), Some(Seconds::Valid(30)));
        assert_eq!(cc.seconds("s-maxage"), Some(Seconds::Valid(7)));
        assert!(!cc.has("no-cache"));
        assert!(!cc.has("X-Custom-Ext"), "names are held lower-case");
    }
}
