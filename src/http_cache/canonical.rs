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
