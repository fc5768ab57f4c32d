//! One spelling per resource: the normalisation applied to every request
//! target before it is keyed or forwarded, and to every URL a purge names, so
//! that one resource has one key and a URL purge reaches every spelling the
//! origin treats as the same (RFC 3986 §6.2.2, RFC 9110 §4.2.3).
//!
//! What is normalised:
//! - the host: lower case (by the caller), one trailing dot removed
//!   (`example.com.` is `example.com`), the scheme's default port removed
//!   (in [`super::key::primary`]);
//! - the path: percent-encoded unreserved characters decoded (`%7E` is `~`,
//!   `%41` is `A`), the hex digits of every other percent-encoding upper-cased
//!   (`%2f` is `%2F`, and stays encoded), and dot segments removed (`/a/./b/../c`
//!   is `/a/c`, RFC 3986 §5.2.4);
//! - nothing else: the query is kept byte for byte (its order and encoding
//!   can matter to the origin), path case is kept, `%2F` is never decoded,
//!   and empty segments (`//`) are kept.
//!
//! The normalised target is also what the origin receives, so the cache key
//! and the origin's view of the request can never disagree.

use std::borrow::Cow;

/// The host without one trailing dot.
pub fn host(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// An authority (`host[:port]`) with the host's trailing dot removed.
pub fn authority(authority: &str) -> Cow<'_, str> {
    if let Some(stripped) = authority.strip_suffix('.') {
        return Cow::Borrowed(stripped);
    }
    match authority.rsplit_once(':') {
        Some((h, port)) if h.ends_with('.') && port.bytes().all(|b| b.is_ascii_digit()) => {
            Cow::Owned(format!("{}:{port}", &h[..h.len() - 1]))
        }
        _ => Cow::Borrowed(authority),
    }
}

/// Is `v` a valid `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2)
/// without userinfo? Checked byte by byte, without allocating: it runs for
/// every request.
pub fn valid_authority(v: &[u8]) -> bool {
    let (host, port) = if v.first() == Some(&b'[') {
        let Some(end) = v.iter().position(|b| *b == b']') else {
            return false;
        };
        let literal = &v[1..end];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        {
            return false;
        }
        match &v[end + 1..] {
            [] => return true,
            [b':', port @ ..] => (&[][..], port),
            _ => return false,
        }
    } else {
        match v.iter().rposition(|b| *b == b':') {
            Some(i) => (&v[..i], &v[i + 1..]),
            None => (v, &[][..]),
        }
    };
    let reg_name = |b: &u8| {
        unreserved(*b)
            || matches!(
                b,
                b'%' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
            )
    };
    let port_ok = port.len() <= 5 && port.iter().all(u8::is_ascii_digit);
    let literal = v.first() == Some(&b'[');
    port_ok && (literal || (!host.is_empty() && host.iter().all(reg_name)))
}

/// The normalised path-and-query (see the module docs). Borrowed when the
/// target is already canonical, the common case.
pub fn path_and_query(pq: &str) -> Cow<'_, str> {
    let (path, query) = match pq.find('?') {
        Some(i) => (&pq[..i], Some(&pq[i..])),
        None => (pq, None),
    };
    if !path.starts_with('/') || !needs_work(path) {
        return Cow::Borrowed(pq);
    }
    let decoded = percent(path);
    let mut out = remove_dot_segments(&decoded);
    if let Some(q) = query {
        out.push_str(q);
    }
    Cow::Owned(out)
}

fn needs_work(path: &str) -> bool {
    path.contains('%') || path.split('/').any(|seg| seg == "." || seg == "..")
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decode percent-encoded unreserved bytes; upper-case the rest's hex digits.
fn percent(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            let byte = h * 16 + l;
            if unreserved(byte) {
                out.push(byte as char);
            } else {
                out.push('%');
                out.push(b[i + 1].to_ascii_uppercase() as char);
                out.push(b[i + 2].to_ascii_uppercase() as char);
            }
            i += 3;
            continue;
        }
        // The request target is ASCII (hyper's parser checks), so a byte is a char.
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// RFC 3986 §5.2.4, for an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path[1..].split('/').collect();
    let last = parts.len() - 1;
    let mut trailing_slash = false;
    for (i, seg) in parts.iter().enumerate() {
        match *seg {
            "." => trailing_slash = i == last,
            ".." => {
                segments.pop();
                trailing_slash = i == last;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3986 §6.2.2.1 (hex case), §6.2.2.2 (unreserved decoding),
    /// §6.2.2.3 and §5.2.4 (dot segments); the query is untouched.
    #[test]
    fn one_spelling_per_resource() {
        let cases = [
            ("/a/b", "/a/b"),
            ("/", "/"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../../b", "/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/%2e%2e/b", "/b"),
            ("/%7Euser/%41", "/~user/A"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%2Fb", "/a%2Fb"),
            ("/a%zz", "/a%zz"),
            ("/a%4", "/a%4"),
            ("/a//b", "/a//b"),
            ("/A", "/A"),
            ("/a/../b?x=/../%7e", "/b?x=/../%7e"),
            ("/p?q=%41", "/p?q=%41"),
            ("*", "*"),
        ];
        for (input, want) in cases {
            assert_eq!(path_and_query(input), want, "{input}");
        }
    }

    /// RFC 9110 §7.2 Host syntax, checked without allocating.
    #[test]
    fn validates_authorities() {
        let cases: &[(&str, bool)] = &[
            ("example.com", true),
            ("example.com:8080", true),
            ("EXAMPLE.com.", true),
            ("127.0.0.1:80", true),
            ("[::1]", true),
            ("[::1]:443", true),
            ("a_b-c~d", true),
            ("a b", false),
            ("a/b", false),
            ("user@host", false),
            ("host:port", false),
            ("host:123456", false),
            (":80", false),
            ("[::1", false),
            ("[::1]x", false),
            ("[]", false),
            ("a\"b", false),
        ];
        for (v, want) in cases {
            assert_eq!(valid_authority(v.as_bytes()), *want, "{v}");
        }
    }

    #[test]
    fn hosts_lose_one_trailing_dot() {
        let cases = [
            ("example.com.", "example.com"),
            ("example.com.:8080", "example.com:8080"),
            ("example.com:8080", "example.com:8080"),
            ("[::1]:80", "[::1]:80"),
            ("example.com", "example.com"),
        ];
        for (input, want) in cases {
            assert_eq!(authority(input), want, "{input}");
        }
        assert_eq!(host("example.com."), "example.com");
    }
}
