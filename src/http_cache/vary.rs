//! Vary (RFC 9110 §12.5.5) and matching a request to a stored variant
//! (RFC 9111 §4.1).

use super::field_list::members;
use super::vary_normalise::{self, VaryRules};
use http::HeaderMap;

/// A response's Vary field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vary {
    /// No Vary, or only empty members.
    None,
    /// `Vary: *`: no later request can be matched.
    Any,
    /// The selecting field names, lower-cased, de-duplicated and sorted.
    Fields(Vec<String>),
}

/// Parse every Vary line of `headers`.
pub fn parse(headers: &HeaderMap) -> Vary {
    let mut names: Vec<String> = Vec::new();
    for m in members(headers, http::header::VARY) {
        if m == "*" {
            return Vary::Any;
        }
        names.push(m.to_ascii_lowercase());
    }
    names.sort();
    names.dedup();
    if names.is_empty() {
        Vary::None
    } else {
        Vary::Fields(names)
    }
}

/// The request's normalised value of each selecting field: all field lines
/// combined, list members trimmed and re-joined with ", " (§4.1 permits
/// normalising whitespace), then the site's declared rules applied
/// ([`VaryRules::declared`]); `None` when the field is absent.
pub fn selected(
    fields: &[String],
    request: &HeaderMap,
    rules: &VaryRules,
) -> Vec<(String, Option<String>)> {
    fields
        .iter()
        .map(|name| {
            let present = request.contains_key(name.as_str());
            let value = present.then(|| normalise(name, members(request, name.as_str())));
            let value = rules.declared(name, value.as_deref()).unwrap_or(value);
            (name.clone(), value)
        })
        .collect()
}

/// Fields whose members are case-insensitive tokens with an order that
/// carries no meaning beyond their q-values (RFC 9110 §12.5.3, §12.5.4):
/// members are lower-cased and sorted, so `en, de` and `DE, en` match.
const UNORDERED: [&str; 3] = ["accept-encoding", "accept-language", "accept-charset"];

fn normalise(name: &str, mut members: Vec<String>) -> String {
    if UNORDERED.contains(&name) {
        members = members
            .into_iter()
            .map(|m| m.to_ascii_lowercase().replace([' ', '\t'], ""))
            .collect();
        members.sort();
    }
    members.join(", ")
}

/// The selecting values a response is stored under. Without a configured
/// language list, a response with one `Content-Language` L that is among
/// the request's most preferred languages is stored under L's bucket, so
/// any later request whose most preferred language is L matches it
/// ([`matches`]): the origin has L, and L is what that client prefers most.
pub fn for_store(
    fields: &[String],
    request: &HeaderMap,
    response: &HeaderMap,
    rules: &VaryRules,
) -> Vec<(String, Option<String>)> {
    let mut values = selected(fields, request, rules);
    if let Some(lang) = content_language(response)
        && rules.content_language_rule()
    {
        for (name, value) in &mut values {
            if name == "accept-language"
                && value
                    .as_deref()
                    .is_some_and(|v| vary_normalise::top_languages(v).contains(&lang))
            {
                *value = Some(vary_normalise::content_language_bucket(&lang));
            }
        }
    }
    values
}

/// The response's single Content-Language tag, lower-case.
fn content_language(response: &HeaderMap) -> Option<String> {
    match members(response, http::header::CONTENT_LANGUAGE).as_slice() {
        [one] => Some(one.to_ascii_lowercase()),
        _ => None,
    }
}

/// The selecting values a request may find a stored variant under, most
/// exact first: its own values, then (Content-Language rule) one set per
/// most preferred language with Accept-Language replaced by its bucket.
pub fn candidates(
    fields: &[String],
    request: &HeaderMap,
    rules: &VaryRules,
) -> Vec<Vec<(String, Option<String>)>> {
    let own = selected(fields, request, rules);
    let mut out = Vec::new();
    if rules.content_language_rule()
        && let Some(i) = own.iter().position(|(n, _)| n == "accept-language")
        && let Some(value) = own[i].1.as_deref()
    {
        for lang in vary_normalise::top_languages(value) {
            let mut alt = own.clone();
            alt[i].1 = Some(vary_normalise::content_language_bucket(&lang));
            out.push(alt);
        }
    }
    out.insert(0, own);
    out
}

/// Does `request` select the stored variant whose selecting values are `stored`?
pub fn matches(
    stored: &[(String, Option<String>)],
    request: &HeaderMap,
    rules: &VaryRules,
) -> bool {
    let names: Vec<String> = stored.iter().map(|(n, _)| n.clone()).collect();
    selected(&names, request, rules)
        .iter()
        .zip(stored)
        .all(
            |(a, b)| match b.1.as_deref().and_then(vary_normalise::content_language_of) {
                Some(lang) => {
                    a.1.as_deref()
                        .is_some_and(|v| vary_normalise::top_languages(v).iter().any(|t| t == lang))
                }
                None => a == b,
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: VaryRules = VaryRules {
        languages: Vec::new(),
        user_agent: vary_normalise::UserAgentRule::Bucket,
        fields: Vec::new(),
    };

    fn headers(fields: &[(&str, &str)]) -> HeaderMap {
        crate::http_cache::test_support::headers(fields)
    }

    /// RFC 9110 §12.5.5: Vary is a case-insensitive list of field names, or `*`.
    #[test]
    fn parses_vary() {
        let cases: &[(&[(&str, &str)], Vary)] = &[
            (&[], Vary::None),
            (&[("vary", "")], Vary::None),
            (&[("vary", " , ")], Vary::None),
            (
                &[("vary", "Accept-Encoding")],
                Vary::Fields(vec!["accept-encoding".into()]),
            ),
            (
                &[("vary", "b, A"), ("vary", "a")],
                Vary::Fields(vec!["a".into(), "b".into()]),
            ),
            (&[("vary", "accept, *")], Vary::Any),
        ];
        for (fields, want) in cases {
            assert_eq!(parse(&headers(fields)), *want, "{fields:?}");
        }
    }

    /// RFC 9111 §4.1: selecting values match after whitespace normalisation
    /// (and, for Accept-Language/-Encoding/-Charset, case and order);
    /// an absent field only matches an absent field.
    #[test]
    fn matches_variants() {
        let stored = selected(&["foo".into()], &headers(&[("foo", "a, b")]), &R);
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("foo", "a, b")], true),
            (&[("foo", "a,b")], true),
            (&[("foo", "a"), ("foo", "b")], true),
            (&[("Foo", "a,   b")], true),
            (&[("foo", "b, a")], false),
            (&[("foo", "A, B")], false),
            (&[], false),
        ];
        for (fields, want) in cases {
            assert_eq!(matches(&stored, &headers(fields), &R), *want, "{fields:?}");
        }
        let lang = selected(
            &["accept-language".into()],
            &headers(&[("accept-language", "en, de;q=0.5")]),
            &R,
        );
        assert!(matches(
            &lang,
            &headers(&[("accept-language", "DE;q=0.5,EN")]),
            &R
        ));
        assert!(!matches(
            &lang,
            &headers(&[("accept-language", "en, de")]),
            &R
        ));
        let absent = selected(&["foo".into()], &headers(&[]), &R);
        assert!(matches(&absent, &headers(&[("bar", "x")]), &R));
        assert!(!matches(&absent, &headers(&[("foo", "")]), &R));
    }

    /// RFC 9111 §4.1 (normalising "in a way that is known to have identical
    /// semantics"): a variant whose Content-Language is L matches a request
    /// whose most preferred language is L (cache-tests `vary-normalise-lang-select`).
    #[test]
    fn content_language_selects_variant() {
        let names = vec!["accept-language".to_string()];
        let req = |v: &str| headers(&[("accept-language", v)]);
        let de = headers(&[("content-language", "de")]);
        let cases: &[(&str, &[(&str, &str)], &str, bool)] = &[
            (
                "en, de",
                &[("content-language", "de")],
                "fr;q=0.5, de;q=1.0",
                true,
            ),
            ("en, de", &[("content-language", "de")], "de", true),
            ("en, de", &[("content-language", "de")], "en", false),
            ("en, de", &[("content-language", "de")], "fr", false),
            ("en, de", &[], "fr;q=0.5, de;q=1.0", false),
            ("en, de", &[], "de, en", true),
            ("en, de;q=0.5", &[("content-language", "de")], "de", false),
            (
                "en, de;q=0.5",
                &[("content-language", "de")],
                "en, de;q=0.5",
                true,
            ),
            ("en, de", &[("content-language", "de, en")], "de", false),
        ];
        for (first, response, second, want) in cases {
            let stored = for_store(&names, &req(first), &headers(response), &R);
            let hit = candidates(&names, &req(second), &R).iter().any(|c| {
                crate::http_cache::key::variant(&P, c)
                    == crate::http_cache::key::variant(&P, &stored)
            });
            assert_eq!(hit, *want, "{first} / {response:?} / {second}");
            assert_eq!(
                matches(&stored, &req(second), &R),
                *want,
                "{first} / {second}"
            );
        }
        // A configured language list keys on the request alone.
        let listed = VaryRules {
            languages: vec!["en".into(), "de".into()],
            ..R
        };
        let stored = for_store(&names, &req("de-AT"), &de, &listed);
        assert!(matches(&stored, &req("de;q=0.9, ja;q=0.1"), &listed));
        assert!(!matches(&stored, &req("en"), &listed));
        assert_eq!(candidates(&names, &req("de"), &listed).len(), 1);
    }

    const P: storage::ObjectKey = storage::ObjectKey([7; 32]);
}
