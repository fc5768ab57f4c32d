//! Declared normalisation of the request fields a Vary response selects on
//! (RFC 9111 §4.1: a cache may match after "normalizing both header field
//! values in a way that is known to have identical semantics"). The site's
//! operator declares what "identical semantics" means for its origin:
//!
//! - `Accept-Language` with a configured language list: the request's best
//!   match in the list (RFC 9110 §12.5.4 q-values), or a default bucket.
//!   Without a list, see [`top_languages`]: a stored response whose
//!   `Content-Language` is the request's most preferred language matches.
//! - `User-Agent`: bucketed into mobile / desktop ([`UserAgentRule::Bucket`],
//!   the default), or ignored. Never keyed on the raw string.
//! - Any other field: an allowed list of values (others → a default bucket)
//!   and/or lower-casing.
//!
//! A bucket value starts with U+0001, which no field value may contain
//! (RFC 9110 §5.5), so a bucket never equals a raw value.

/// The prefix of every bucket value.
pub const BUCKET: char = '\u{1}';

/// What `Vary: User-Agent` keys on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAgentRule {
    /// Two buckets: `mobile` when the User-Agent contains `Mobi`
    /// (case-insensitive; the rule MDN recommends), else `desktop` (an
    /// absent User-Agent included). The default.
    #[default]
    Bucket,
    /// Every request selects the same variant: the origin's User-Agent
    /// variation is ignored by operator choice.
    Ignore,
}

/// How one other selecting field is normalised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldRule {
    /// Field name, lower-case.
    pub name: String,
    /// Lower-case the value before comparing or keying.
    pub lowercase: bool,
    /// Allowed values (after lower-casing, when on); any other value, or an
    /// absent field, keys as the default bucket. Empty: every value keys as itself.
    pub values: Vec<String>,
}

/// A site's declared Vary normalisation, as plain data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaryRules {
    /// Languages Accept-Language is bucketed into (lower-case), best first
    /// on ties. Empty: the Content-Language rule.
    pub languages: Vec<String>,
    /// What User-Agent keys on.
    pub user_agent: UserAgentRule,
    /// Rules for other fields.
    pub fields: Vec<FieldRule>,
}

/// `name` followed by a bucket label.
pub fn bucket(label: &str) -> String {
    format!("{BUCKET}{label}")
}

/// The bucket of a stored variant chosen by its Content-Language.
pub fn content_language_bucket(lang: &str) -> String {
    bucket(&format!("content-language={}", lang.to_ascii_lowercase()))
}

/// The language a [`content_language_bucket`] value names, if it is one.
pub fn content_language_of(value: &str) -> Option<&str> {
    value
        .strip_prefix(BUCKET)
        .and_then(|v| v.strip_prefix("content-language="))
}

impl VaryRules {
    /// The declared key value of field `name` (lower-case) for a request
    /// whose value is `value` (already combined and whitespace-normalised);
    /// `None` when no rule applies (the caller keeps `value`).
    pub fn declared(&self, name: &str, value: Option<&str>) -> Option<Option<String>> {
        match name {
            "accept-language" if !self.languages.is_empty() => Some(Some(bucket(&format!(
                "lang={}",
                value
                    .and_then(|v| best_language(v, &self.languages))
                    .unwrap_or("default")
            )))),
            "user-agent" => Some(Some(bucket(match self.user_agent {
                UserAgentRule::Ignore => "any",
                UserAgentRule::Bucket if value.is_some_and(is_mobile) => "mobile",
                UserAgentRule::Bucket => "desktop",
            }))),
            _ => {
                let rule = self.fields.iter().find(|r| r.name == name)?;
                let v = value.map(|v| {
                    if rule.lowercase {
                        v.to_ascii_lowercase()
                    } else {
                        v.to_string()
                    }
                });
                if rule.values.is_empty() {
                    return Some(v);
                }
                Some(Some(match v {
                    Some(v) if rule.values.contains(&v) => v,
                    _ => bucket("default"),
                }))
            }
        }
    }

    /// Does Accept-Language use the Content-Language rule (no language list)?
    pub fn content_language_rule(&self) -> bool {
        self.languages.is_empty()
    }
}

/// The mobile/desktop rule: `Mobi` anywhere, ignoring case.
fn is_mobile(user_agent: &str) -> bool {
    user_agent.to_ascii_lowercase().contains("mobi")
}

/// Accept-Language members as (range, q), lower-case; members with an
/// unparseable weight are dropped (RFC 9110 §12.4.2, §12.5.4).
pub fn language_ranges(value: &str) -> Vec<(String, f32)> {
    let mut out = Vec::new();
    for member in super::field_list::split(value) {
        let mut parts = member.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if range.is_empty() {
            continue;
        }
        let mut q = Some(1.0f32);
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q));
            }
        }
        if let Some(q) = q {
            out.push((range, q));
        }
    }
    out
}

/// The request's most preferred languages: every range with the highest
/// q-value, when that is above 0. `*` names no language: when it has the
/// highest q, only ranges with the same q are most preferred.
pub fn top_languages(value: &str) -> Vec<String> {
    let ranges = language_ranges(value);
    let max = ranges.iter().map(|(_, q)| *q).fold(0.0f32, f32::max);
    ranges
        .into_iter()
        .filter(|(r, q)| r != "*" && *q > 0.0 && *q == max)
        .map(|(r, _)| r)
        .collect()
}

/// The configured language the request prefers most (RFC 9110 §12.5.4):
/// each configured language takes the q of the longest range that matches
/// it (equal, a prefix of it as in RFC 4647 §3.3.1 filtering, it a prefix
/// of the range as in §3.4 lookup, or `*`); the highest q above 0 wins,
/// ties going to the earlier configured language.
pub fn best_language<'a>(value: &str, languages: &'a [String]) -> Option<&'a str> {
    let ranges = language_ranges(value);
    let mut best: Option<(&'a str, f32)> = None;
    for lang in languages {
        let mut matched: Option<(usize, f32)> = None;
        for (range, q) in &ranges {
            let specificity = if range == "*" {
                0
            } else if range == lang || tag_prefix(range, lang) || tag_prefix(lang, range) {
                range.len()
            } else {
                continue;
            };
            if matched.is_none_or(|(s, _)| specificity > s) {
                matched = Some((specificity, *q));
            }
        }
        if let Some((_, q)) = matched
            && q > 0.0
            && best.is_none_or(|(_, b)| q > b)
        {
            best = Some((lang.as_str(), q));
        }
    }
    best.map(|(l, _)| l)
}

/// Is `prefix` a language-tag prefix of `tag` (`en` of `en-us`)?
fn tag_prefix(prefix: &str, tag: &str) -> bool {
    tag.len() > prefix.len() && tag.starts_with(prefix) && tag.as_bytes()[prefix.len()] == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn langs(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    /// RFC 9110 §12.5.4: q-values order preferences; q=0 means "not acceptable".
    #[test]
    fn top_languages_by_q() {
        let cases: &[(&str, &[&str])] = &[
            ("en, de", &["en", "de"]),
            ("fr;q=0.5, de;q=1.0", &["de"]),
            ("DE;q=0.9, en;q=0.1", &["de"]),
            ("*, de;q=0.5", &[]),
            ("*, de", &["de"]),
            ("de;q=0", &[]),
            ("de;q=abc, fr;q=0.3", &["fr"]),
            ("", &[]),
        ];
        for (value, want) in cases {
            assert_eq!(top_languages(value), langs(want), "{value}");
        }
    }

    /// RFC 9110 §12.5.4 with RFC 4647 matching: best configured language, default otherwise.
    #[test]
    fn best_language_in_list() {
        let list = langs(&["en", "de", "fr-ca"]);
        let cases: &[(&str, Option<&str>)] = &[
            ("en", Some("en")),
            ("en-US", Some("en")),
            ("de;q=0.8, en;q=0.5", Some("de")),
            ("fr;q=0.9, de;q=0.1", Some("fr-ca")),
            ("ja", None),
            ("ja, *;q=0.1", Some("en")),
            ("en;q=0, de;q=0", None),
            ("en, de", Some("en")),
            ("de, en", Some("en")),
            ("en;q=0.2, *;q=0.5", Some("de")),
        ];
        for (value, want) in cases {
            assert_eq!(best_language(value, &list), *want, "{value}");
        }
    }

    /// RFC 9111 §4.1: declared normalisation of selecting fields.
    #[test]
    fn declared_values() {
        let rules = VaryRules {
            languages: langs(&["en", "de"]),
            user_agent: UserAgentRule::Bucket,
            fields: vec![
                FieldRule {
                    name: "x-theme".into(),
                    lowercase: true,
                    values: langs(&["dark", "light"]),
                },
                FieldRule {
                    name: "x-lower".into(),
                    lowercase: true,
                    values: vec![],
                },
            ],
        };
        let b = |s: &str| Some(Some(bucket(s)));
        let cases: &[(&str, Option<&str>, Option<Option<String>>)] = &[
            ("accept-language", Some("de;q=0.9, fr"), b("lang=de")),
            ("accept-language", Some("ja"), b("lang=default")),
            ("accept-language", None, b("lang=default")),
            (
                "user-agent",
                Some("Mozilla/5.0 (iPhone) Mobile/15E148"),
                b("mobile"),
            ),
            (
                "user-agent",
                Some("Mozilla/5.0 (X11; Linux x86_64)"),
                b("desktop"),
            ),
            ("user-agent", None, b("desktop")),
            ("x-theme", Some("DARK"), Some(Some("dark".into()))),
            ("x-theme", Some("blue"), b("default")),
            ("x-theme", None, b("default")),
            ("x-lower", Some("AbC"), Some(Some("abc".into()))),
            ("x-lower", None, Some(None)),
            ("foo", Some("1"), None),
        ];
        for (name, value, want) in cases {
            assert_eq!(rules.declared(name, *value), *want, "{name}: {value:?}");
        }
        let ignore = VaryRules {
            user_agent: UserAgentRule::Ignore,
            ..VaryRules::default()
        };
        assert_eq!(ignore.declared("user-agent", Some("x")), b("any"));
        assert_eq!(ignore.declared("user-agent", None), b("any"));
        assert_eq!(
            VaryRules::default().declared("accept-language", Some("en")),
            None
        );
    }

    #[test]
    fn content_language_bucket_round_trips() {
        assert_eq!(
            content_language_of(&content_language_bucket("DE")),
            Some("de")
        );
        assert_eq!(content_language_of("de"), None);
        assert_eq!(content_language_of(&bucket("lang=de")), None);
    }
}
