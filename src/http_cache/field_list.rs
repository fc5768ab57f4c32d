//! Reading list-valued header fields (RFC 9110 §5.6.1): several field lines
//! combine into one comma-separated list, and commas inside quoted strings do
//! not separate members.

use http::HeaderMap;
use http::header::AsHeaderName;

/// Every member of the list-valued field `name`, across all its field lines,
/// trimmed, with empty members dropped. Quoted strings are kept whole.
pub fn members<K: AsHeaderName>(headers: &HeaderMap, name: K) -> Vec<String> {
    let mut out = Vec::new();
    for v in headers.get_all(name) {
        split_into(&String::from_utf8_lossy(v.as_bytes()), &mut out);
    }
    out
}

/// Split one field value on commas outside quoted strings.
pub fn split(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    split_into(value, &mut out);
    out
}

fn split_into(value: &str, out: &mut Vec<String>) {
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for c in value.chars() {
        if in_quotes {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_quotes = true;
                cur.push(c);
            }
            ',' => {
                push_trimmed(&mut cur, out);
            }
            _ => cur.push(c),
        }
    }
    push_trimmed(&mut cur, out);
}

fn push_trimmed(cur: &mut String, out: &mut Vec<String>) {
    let t = cur.trim_matches(|c| c == ' ' || c == '\t');
    if !t.is_empty() {
        out.push(t.to_string());
    }
    cur.clear();
}

/// Remove one level of quoting from a quoted-string (RFC 9110 §5.6.4);
/// a value that is not quoted is returned as it is.
pub fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        let inner = &s[1..s.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        s.to_string()
    }
}

/// The first value of a singleton field as text, if present and valid UTF-8.
pub fn first<K: AsHeaderName>(headers: &HeaderMap, name: K) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110 §5.6.1 lists and §5.6.4 quoted strings.
    #[test]
    fn splits_lists() {
        let cases: &[(&str, &[&str])] = &[
            ("a, b,c", &["a", "b", "c"]),
            (" a ,, ,b ", &["a", "b"]),
            (
                "private=\"a, b\", max-age=1",
                &["private=\"a, b\"", "max-age=1"],
            ),
            ("x=\"q\\\"uote, in\", y", &["x=\"q\\\"uote, in\"", "y"]),
            ("", &[]),
            ("\t,\t", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(split(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn unquotes() {
        assert_eq!(unquote("\"a\\\"b\""), "a\"b");
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(unquote("\""), "\"");
    }

    #[test]
    fn combines_field_lines() {
        let mut h = HeaderMap::new();
        h.append("vary", "a, b".parse().expect("valid"));
        h.append("vary", "c".parse().expect("valid"));
        assert_eq!(members(&h, "vary"), vec!["a", "b", "c"]);
    }
}
