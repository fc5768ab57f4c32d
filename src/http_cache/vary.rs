//! Vary (RFC 9110 §12.5.5) and matching a request to a stored variant
//! (RFC 9111 §4.1).

use super::field_list::members;
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
/// normalising whitespace); `None` when the field is absent.
pub fn selected(fields: &[String], request: &HeaderMap) -> Vec<(String, Option<String>)> {
    fields
        .iter()
        .map(|name| {
            let present = request.contains_key(name.as_str());
            let value = present.then(|| normalise(name, members(request, name.as_str())));
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

/// Does `request` select the stored variant whose selecting values are `stored`?
pub fn matches(stored: &[(String, Option<String>)], request: &HeaderMap) -> bool {
    let names: Vec<String> = stored.iter().map(|(n, _)| n.clone()).collect();
    selected(&names, request)
        .iter()
        .zip(stored)
        .all(|(a, b)| a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let stored = selected(&["foo".into()], &headers(&[("foo", "a, b")]));
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
            assert_eq!(matches(&stored, &headers(fields)), *want, "{fields:?}");
        }
        let lang = selected(
            &["accept-language".into()],
            &headers(&[("accept-language", "en, de;q=0.5")]),
        );
        assert!(matches(
            &lang,
            &headers(&[("accept-language", "DE;q=0.5,EN")])
        ));
        assert!(!matches(&lang, &headers(&[("accept-language", "en, de")])));
        let absent = selected(&["foo".into()], &headers(&[]));
        assert!(matches(&absent, &headers(&[("bar", "x")])));
        assert!(!matches(&absent, &headers(&[("foo", "")])));
    }
}
