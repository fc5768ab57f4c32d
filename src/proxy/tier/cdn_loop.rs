//! The CDN-Loop request field (RFC 8586): a list of `cdn-id [; params]`
//! members, one appended by each CDN a request passes through. A node counts
//! its own fleet's id in it to tell a peer's request from a client's and to
//! stop loops, and appends its id to every request it forwards.
//!
//! The parse never fails: a member that is not well formed is skipped, and
//! the count stops at [`MAX_COUNT`]. The field's size is already bounded by
//! the request head limit (`server.max_request_head_bytes`).

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// The field name.
pub const CDN_LOOP: HeaderName = HeaderName::from_static("cdn-loop");

/// Counting stops here: any count above the loop limit is as good as another.
pub const MAX_COUNT: usize = 64;

/// How many members of the CDN-Loop fields in `headers` name `cdn_id`
/// (case-insensitively; RFC 8586 §2 ids are hosts or pseudonyms), at most
/// [`MAX_COUNT`].
pub fn count(headers: &HeaderMap, cdn_id: &str) -> usize {
    let mut n = 0;
    for value in headers.get_all(CDN_LOOP) {
        for member in members(value.as_bytes()) {
            if id_of(member).eq_ignore_ascii_case(cdn_id.as_bytes()) {
                n += 1;
                if n == MAX_COUNT {
                    return n;
                }
            }
        }
    }
    n
}

/// Append `cdn_id` as a new member (RFC 8586 §2: a CDN appends, and never
/// removes or changes the members already there). `value` is the id as a
/// header value, built once.
pub fn append(headers: &mut HeaderMap, value: &HeaderValue) {
    headers.append(CDN_LOOP, value.clone());
}

/// The members of one field value: split at commas outside quoted strings
/// (a parameter value may be a quoted string holding a comma).
fn members(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = v;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut quoted = false;
        let mut escaped = false;
        let mut end = rest.len();
        for (i, &b) in rest.iter().enumerate() {
            match (quoted, escaped, b) {
                (true, true, _) => escaped = false,
                (true, false, b'\\') => escaped = true,
                (_, false, b'"') => quoted = !quoted,
                (false, _, b',') => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let member = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or(&[]);
        Some(member)
    })
}

/// The cdn-id of a member: the text before its first `;`, without the
/// surrounding whitespace.
fn id_of(member: &[u8]) -> &[u8] {
    let id = member.split(|b| *b == b';').next().unwrap_or(&[]);
    id.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(CDN_LOOP, HeaderValue::from_bytes(v).expect("value"));
        }
        h
    }

    /// RFC 8586 §2 examples and variations: members, parameters, quoted
    /// commas, several field lines, case.
    #[test]
    fn counts_our_id() {
        let cases: &[(&[&[u8]], usize)] = &[
            (&[], 0),
            (&[b""], 0),
            (&[b"edgecache"], 1),
            (&[b"EdgeCache"], 1),
            (
                &[b"foo123.foocdn.example, barcdn; host=\"barcdn.example\""],
                0,
            ),
            (&[b"edgecache; v=1, other, edgecache"], 2),
            (&[b"other", b"edgecache ;x=1"], 1),
            // A comma inside a quoted parameter value does not split.
            (&[b"other; note=\"a, edgecache\", edgecache"], 1),
            (&[b"other; note=\"a \\\" , edgecache\""], 0),
            // Not our id: a prefix, a suffix, a host with a port.
            (&[b"edgecache2, xedgecache, edgecache:80"], 0),
            // Empty members and stray separators are skipped.
            (&[b",,edgecache,, ;, "], 1),
            // An unterminated quote swallows the rest of its line only.
            (&[b"a; x=\"open, edgecache", b"edgecache"], 1),
        ];
        for (values, want) in cases {
            assert_eq!(count(&headers(values), "edgecache"), *want, "{values:?}");
        }
    }

    /// A hostile field (huge, every byte a separator, binary) is counted
    /// without panicking, and the count stops at the cap.
    #[test]
    fn hostile_fields_are_bounded() {
        let many = "edgecache,".repeat(10_000);
        assert_eq!(count(&headers(&[many.as_bytes()]), "edgecache"), MAX_COUNT);
        let commas = ",".repeat(50_000);
        assert_eq!(count(&headers(&[commas.as_bytes()]), "edgecache"), 0);
        let quotes = "\"".repeat(50_001);
        assert_eq!(count(&headers(&[quotes.as_bytes()]), "edgecache"), 0);
        assert_eq!(count(&headers(&[b"\x80\xff; edgecache"]), "edgecache"), 0);
    }

    #[test]
    fn append_adds_a_member() {
        let mut h = headers(&[b"other"]);
        append(&mut h, &HeaderValue::from_static("edgecache"));
        assert_eq!(count(&h, "edgecache"), 1);
        assert_eq!(count(&h, "other"), 1);
    }
}
