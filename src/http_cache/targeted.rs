//! RFC 9213 targeted cache-control fields (CDN-Cache-Control and friends),
//! parsed as Structured Fields dictionaries, and the legacy W3C
//! Surrogate-Control field with its device targeting.

use super::cache_control::{CacheControl, is_tchar};
use super::field_list::split;
use http::HeaderMap;

/// The legacy targeted field of the W3C Edge Architecture note, parsed with
/// its own syntax rather than as a Structured Field.
pub const SURROGATE_CONTROL: &str = "surrogate-control";

/// RFC 9213 §2.1: of the targeted fields named in `targets` (in order), the
/// first with a valid, non-empty Structured Fields Dictionary value replaces
/// Cache-Control for this cache. `None` when none applies. `surrogate-control`
/// in `targets` is read with its own syntax, keeping only the directives
/// untargeted or targeted at `device`.
pub fn targeted(headers: &HeaderMap, targets: &[String], device: &str) -> Option<CacheControl> {
    // Most responses carry none: one pass over the names, no lookups.
    if !headers
        .keys()
        .any(|k| targets.iter().any(|t| t.as_str() == k.as_str()))
    {
        return None;
    }
    for name in targets {
        if name == SURROGATE_CONTROL {
            if let Some(cc) = surrogate_control(headers, device) {
                return Some(cc);
            }
            continue;
        }
        let mut combined = String::new();
        for v in headers.get_all(name.as_str()) {
            let Ok(s) = v.to_str() else { continue };
            if !combined.is_empty() {
                combined.push_str(", ");
            }
            combined.push_str(s);
        }
        if combined.trim().is_empty()
            || !is_sf_dictionary(&combined)
            || !has_integer_lifetimes(&combined)
        {
            continue;
        }
        let cc = CacheControl::parse(&strip_sf_parameters(&combined));
        if !cc.is_empty() {
            return Some(cc);
        }
    }
    None
}

/// Surrogate-Control (W3C Edge Architecture §2): `directive[=value][;device]`
/// members. Directives targeted at another device are dropped;
/// `no-store-remote` counts as `no-store` (this node is a remote surrogate).
fn surrogate_control(headers: &HeaderMap, device: &str) -> Option<CacheControl> {
    let mut kept = Vec::new();
    for v in headers.get_all(SURROGATE_CONTROL) {
        for member in split(&String::from_utf8_lossy(v.as_bytes())) {
            let (directive, target) = match member.split_once(';') {
                Some((d, t)) => (d.trim(), Some(t.trim())),
                None => (member.trim(), None),
            };
            if target.is_some_and(|t| !t.eq_ignore_ascii_case(device)) {
                continue;
            }
            let directive = match directive.to_ascii_lowercase().as_str() {
                "no-store-remote" => "no-store".to_string(),
                _ => directive.to_string(),
            };
            kept.push(directive);
        }
    }
    let cc = CacheControl::parse(&kept.join(", "));
    (!cc.is_empty()).then_some(cc)
}

/// A conservative check of RFC 8941 §3.2 dictionary syntax: keys are lcalpha
/// or `*` then lcalpha/digits/`_-.*`; values are integers, decimals, strings,
/// tokens, byte sequences or booleans, optionally with parameters.
fn is_sf_dictionary(s: &str) -> bool {
    split(s).iter().all(|member| {
        let mut parts = member.split(';');
        let item = parts.next().unwrap_or("").trim();
        let item_ok = match item.split_once('=') {
            None => is_sf_key(item),
            Some((k, v)) => is_sf_key(k) && is_sf_bare_item(v),
        };
        item_ok
            && parts.all(|p| match p.trim().split_once('=') {
                None => is_sf_key(p.trim()),
                Some((k, v)) => is_sf_key(k) && is_sf_bare_item(v),
            })
    })
}

/// RFC 9213 §2.1 with RFC 8941: lifetime directives are Integers; a field
/// that gives one as another type (`max-age="60"`) is invalid as a whole.
fn has_integer_lifetimes(s: &str) -> bool {
    split(s).iter().all(|member| {
        let item = member.split(';').next().unwrap_or("").trim();
        match item.split_once('=') {
            Some(("max-age" | "s-maxage" | "stale-while-revalidate" | "stale-if-error", v)) => {
                !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
            }
            _ => true,
        }
    })
}

fn is_sf_key(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0] == b'*')
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(c))
}

fn is_sf_bare_item(v: &str) -> bool {
    let b = v.as_bytes();
    match b.first() {
        None => false,
        Some(b'"') => b.len() >= 2 && b[b.len() - 1] == b'"',
        Some(b'?') => v == "?0" || v == "?1",
        Some(b':') => b.len() >= 2 && b[b.len() - 1] == b':',
        Some(c) if c.is_ascii_digit() || *c == b'-' => {
            let digits = v.trim_start_matches('-');
            !digits.is_empty()
                && digits.bytes().all(|c| c.is_ascii_digit() || c == b'.')
                && digits.len() <= 16
        }
        Some(c) if c.is_ascii_alphabetic() || *c == b'*' => {
            v.bytes().all(|c| is_tchar(c) || c == b':' || c == b'/')
        }
        _ => false,
    }
}

fn strip_sf_parameters(s: &str) -> String {
    split(s)
        .iter()
        .map(|m| m.split(';').next().unwrap_or("").trim().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_cache::cache_control::Seconds;

    /// W3C Edge Architecture Surrogate-Control: device targeting, case, no-store-remote.
    #[test]
    fn reads_surrogate_control() {
        let targets = vec![
            "cdn-cache-control".to_string(),
            SURROGATE_CONTROL.to_string(),
        ];
        let cases: &[(&[(&str, &str)], Option<(Option<Seconds>, bool)>)] = &[
            (
                &[("surrogate-control", "max-age=60")],
                Some((Some(Seconds::Valid(60)), false)),
            ),
            (
                &[("surrogate-control", "MaX-aGe=60")],
                Some((Some(Seconds::Valid(60)), false)),
            ),
            (
                &[("surrogate-control", "max-age=60;edgecache")],
                Some((Some(Seconds::Valid(60)), false)),
            ),
            (&[("surrogate-control", "max-age=60;other")], None),
            (
                &[("surrogate-control", "no-store-remote")],
                Some((None, true)),
            ),
            (
                &[
                    ("surrogate-control", "max-age=5"),
                    ("cdn-cache-control", "max-age=9"),
                ],
                Some((Some(Seconds::Valid(9)), false)),
            ),
        ];
        for (fields, want) in cases {
            let h = crate::http_cache::test_support::headers(fields);
            let got = targeted(&h, &targets, "edgecache").map(|cc| (cc.max_age(), cc.no_store()));
            assert_eq!(got, *want, "fields {fields:?}");
        }
    }

    /// RFC 9213 §2.1: first valid targeted field wins; invalid ones are ignored.
    #[test]
    fn selects_targeted_field() {
        let targets = vec![
            "edgecache-cdn-cache-control".to_string(),
            "cdn-cache-control".to_string(),
        ];
        let cases: &[(&[(&str, &str)], Option<Option<Seconds>>)] = &[
            (
                &[("cdn-cache-control", "max-age=30")],
                Some(Some(Seconds::Valid(30))),
            ),
            (
                &[
                    ("cdn-cache-control", "max-age=30"),
                    ("edgecache-cdn-cache-control", "max-age=5"),
                ],
                Some(Some(Seconds::Valid(5))),
            ),
            (
                &[("cdn-cache-control", "max-age=30, foo=\"bar\"")],
                Some(Some(Seconds::Valid(30))),
            ),
            (&[("cdn-cache-control", "MAX-AGE=30")], None),
            (&[("cdn-cache-control", "max-age=\"30\"")], None),
            (&[("cdn-cache-control", "max-age=30, &&&&&")], None),
            (&[("cdn-cache-control", "")], None),
            (&[("cache-control", "max-age=30")], None),
        ];
        for (fields, want) in cases {
            let h = crate::http_cache::test_support::headers(fields);
            assert_eq!(
                targeted(&h, &targets, "edgecache").map(|cc| cc.max_age()),
                *want,
                "fields {fields:?}"
            );
        }
    }
}
