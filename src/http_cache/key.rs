//! Cache keys (RFC 9111 §2): a primary key over the target URI, and a variant
//! key over the request fields a Vary response selects on (§4.1).

use storage::ObjectKey;

/// Domain separators so that a primary key can never equal a variant key.
const PRIMARY: &[u8] = b"edgecache/primary/1";
const VARIANT: &[u8] = b"edgecache/variant/1";

/// The primary key: scheme, lower-cased authority without its default port,
/// and path with query, exactly as sent (no re-encoding).
pub fn primary(scheme: &str, authority: &str, path_and_query: &str) -> ObjectKey {
    let scheme = lower(scheme);
    let auth = lower(authority);
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let auth = auth.strip_suffix(default_port).unwrap_or(&auth);
    let pq = if path_and_query.is_empty() {
        "/"
    } else {
        path_and_query
    };
    ObjectKey::derive(&[PRIMARY, scheme.as_bytes(), auth.as_bytes(), pq.as_bytes()])
}

/// `s` in lower case, borrowed when it already is (the common case).
fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(s.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// The variant key: the primary key plus the (sorted, normalised) selecting
/// field values. Independent of the request's header order.
pub fn variant(primary: &ObjectKey, selected: &[(String, Option<String>)]) -> ObjectKey {
    let mut parts: Vec<Vec<u8>> = vec![VARIANT.to_vec(), primary.0.to_vec()];
    let mut sorted: Vec<&(String, Option<String>)> = selected.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in sorted {
        parts.push(name.as_bytes().to_vec());
        match value {
            Some(v) => {
                parts.push(vec![1]);
                parts.push(v.as_bytes().to_vec());
            }
            None => parts.push(vec![0]),
        }
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    ObjectKey::derive(&refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9111 §2: the key is the target URI (plus method, which is always GET here).
    #[test]
    fn primary_normalises_authority_only() {
        let cases = [
            (
                ("http", "Example.COM", "/a"),
                ("http", "example.com", "/a"),
                true,
            ),
            (
                ("http", "example.com:80", "/a"),
                ("http", "example.com", "/a"),
                true,
            ),
            (
                ("https", "example.com:443", "/a"),
                ("https", "example.com", "/a"),
                true,
            ),
            (
                ("http", "example.com:8080", "/a"),
                ("http", "example.com", "/a"),
                false,
            ),
            (
                ("http", "example.com", "/a"),
                ("https", "example.com", "/a"),
                false,
            ),
            (
                ("http", "example.com", "/A"),
                ("http", "example.com", "/a"),
                false,
            ),
            (
                ("http", "example.com", "/a?x=1"),
                ("http", "example.com", "/a?x=2"),
                false,
            ),
            (
                ("http", "example.com", ""),
                ("http", "example.com", "/"),
                true,
            ),
        ];
        for (a, b, same) in cases {
            assert_eq!(
                primary(a.0, a.1, a.2) == primary(b.0, b.1, b.2),
                same,
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn variant_is_order_independent_and_distinguishes_absence() {
        let p = primary("http", "h", "/");
        let a = vec![
            ("a".to_string(), Some("1".to_string())),
            ("b".to_string(), None),
        ];
        let b = vec![
            ("b".to_string(), None),
            ("a".to_string(), Some("1".to_string())),
        ];
        assert_eq!(variant(&p, &a), variant(&p, &b));
        let empty = vec![
            ("b".to_string(), Some(String::new())),
            ("a".to_string(), Some("1".to_string())),
        ];
        assert_ne!(variant(&p, &a), variant(&p, &empty));
        assert_ne!(variant(&p, &[]), p);
    }
}
