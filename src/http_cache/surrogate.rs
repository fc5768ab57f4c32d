//! Surrogate keys (tags) the origin attaches to a response, read from
//! configurable fields: `Surrogate-Key` (space-separated, as Fastly does) or
//! `Cache-Tag` (comma-separated, as Cloudflare does).

use http::HeaderMap;

/// One field that carries surrogate keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyField {
    /// Field name, lower-case.
    pub name: String,
    /// The character that separates keys.
    pub separator: char,
}

/// Limits on the keys one object may carry.
#[derive(Clone, Copy, Debug)]
pub struct KeyLimits {
    /// Most keys kept per object.
    pub max_keys: usize,
    /// Longest key kept, in bytes.
    pub max_len: usize,
}

/// The keys found, and how many were dropped for breaking the limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keys {
    /// Distinct keys, in order of appearance.
    pub keys: Vec<String>,
    /// Keys dropped: too long, or beyond `max_keys`.
    pub overflow: usize,
}

/// Read the surrogate keys of a response.
pub fn keys(headers: &HeaderMap, fields: &[KeyField], limits: KeyLimits) -> Keys {
    let mut out = Keys::default();
    for field in fields {
        for value in headers.get_all(field.name.as_str()) {
            let Ok(value) = value.to_str() else {
                out.overflow += 1;
                continue;
            };
            for key in value
                .split(field.separator)
                .map(str::trim)
                .filter(|k| !k.is_empty())
            {
                if key.len() > limits.max_len || out.keys.len() >= limits.max_keys {
                    out.overflow += 1;
                } else if !out.keys.iter().any(|k| k == key) {
                    out.keys.push(key.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<KeyField> {
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

    #[test]
    fn reads_space_and_comma_separated_keys_with_limits() {
        let limits = KeyLimits {
            max_keys: 3,
            max_len: 8,
        };
        let cases: &[(&[(&str, &str)], &[&str], usize)] = &[
            (&[("surrogate-key", "a b  c")], &["a", "b", "c"], 0),
            (&[("cache-tag", "a, b,c")], &["a", "b", "c"], 0),
            (&[("surrogate-key", "a a"), ("cache-tag", "a")], &["a"], 0),
            (&[("surrogate-key", "a b c d")], &["a", "b", "c"], 1),
            (&[("surrogate-key", "short waytoolongkey")], &["short"], 1),
            (&[], &[], 0),
        ];
        for (f, want, overflow) in cases {
            let h = crate::http_cache::test_support::headers(f);
            let got = keys(&h, &fields(), limits);
            assert_eq!(
                got.keys,
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{f:?}"
            );
            assert_eq!(got.overflow, *overflow, "{f:?}");
        }
    }
}
