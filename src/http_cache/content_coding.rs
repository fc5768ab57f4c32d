//! Content codings (RFC 9110 §8.4) and Accept-Encoding negotiation
//! (§12.5.3): which of the forms the node can serve a client prefers, and
//! the header rules for a transformed representation (ETag, Vary,
//! no-transform). Pure: the body work is in `proxy::transcode`.

use super::cache_control::CacheControl;
use super::cached_response::CachedResponse;
use super::field_list::members;
use http::header::{self, HeaderMap, HeaderValue};
use storage::ObjectKey;

/// A content coding the node can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Coding {
    /// No coding (§8.4.1: "identity" is a synonym for none).
    Identity,
    /// gzip (§8.4.1.3; `x-gzip` is its alias).
    Gzip,
    /// Brotli (RFC 7932).
    Br,
    /// Zstandard (RFC 8878).
    Zstd,
}

impl Coding {
    /// Every coding the node knows, in the order forms are listed.
    pub const ALL: [Coding; 4] = [Coding::Gzip, Coding::Br, Coding::Zstd, Coding::Identity];

    /// The coding's token.
    pub fn as_str(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Br => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// The coding named by `token` (case-insensitive), if the node knows it.
    pub fn from_token(token: &str) -> Option<Coding> {
        let t = token.trim().to_ascii_lowercase();
        Some(match t.as_str() {
            "identity" => Coding::Identity,
            "gzip" | "x-gzip" => Coding::Gzip,
            "br" => Coding::Br,
            "zstd" => Coding::Zstd,
            _ => return None,
        })
    }
}

/// The coding of a stored response's content (§8.4): `Identity` when it
/// has no Content-Encoding; `None` when it is one the node cannot decode or
/// several stacked codings.
pub fn stored_coding(headers: &HeaderMap) -> Option<Coding> {
    let codings = members(headers, header::CONTENT_ENCODING);
    match codings.as_slice() {
        [] => Some(Coding::Identity),
        [one] => Coding::from_token(one),
        _ => None,
    }
}

/// One Accept-Encoding member: a coding (or `*`) and its weight in
/// thousandths (§12.4.2: `q` has at most three decimals).
fn parse_member(m: &str) -> Option<(String, u16)> {
    let mut parts = m.split(';');
    let coding = parts.next()?.trim().to_ascii_lowercase();
    if coding.is_empty() {
        return None;
    }
    let mut q = 1000;
    for p in parts {
        let (name, value) = p.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            q = parse_qvalue(value.trim())?;
        }
    }
    Some((coding, q))
}

/// §12.4.2: `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`.
fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Pick the form to serve from `available` (in the node's order of
/// preference, which breaks ties) for a request whose Accept-Encoding is
/// `accept` (all its lines joined; `None` when absent), per §12.5.3:
/// - no Accept-Encoding: any coding is acceptable; the node sends identity
///   when it has it (the one every client can read);
/// - an empty value: only identity is acceptable;
/// - a coding's weight is its own member's, else `*`'s, else 0; identity
///   is acceptable unless `identity;q=0` (or `*;q=0` without an identity
///   member) excludes it, and then ranks below every listed coding;
/// - malformed members are ignored.
///
/// `None`: nothing available is acceptable.
pub fn negotiate(accept: Option<&str>, available: &[Coding]) -> Option<Coding> {
    let Some(accept) = accept else {
        return available
            .iter()
            .copied()
            .find(|c| *c == Coding::Identity)
            .or_else(|| available.first().copied());
    };
    let listed: Vec<(String, u16)> = super::field_list::split(accept)
        .iter()
        .filter_map(|m| parse_member(m))
        .collect();
    let weight_of = |name: &str| -> Option<u16> {
        listed
            .iter()
            .filter(|(c, _)| c == name || (name == "gzip" && c == "x-gzip"))
            .map(|(_, q)| *q)
            .max()
    };
    let star = weight_of("*");
    let weight = |c: Coding| -> u16 {
        match (weight_of(c.as_str()), c) {
            (Some(q), _) => q,
            (None, Coding::Identity) => match star {
                Some(0) => 0,
                // Acceptable by default, below anything explicitly asked for.
                _ => 1,
            },
            (None, _) => star.unwrap_or(0),
        }
    };
    let mut best: Option<(Coding, u16)> = None;
    for &c in available {
        let q = weight(c);
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((c, q));
        }
    }
    best.map(|(c, _)| c)
}

/// Does `content_type` (parameters ignored) match one of `types`, each
/// exact or with one `*` (`text/*`, `application/*+json`)?
pub fn compressible(content_type: Option<&HeaderValue>, types: &[String]) -> bool {
    TypeMatcher::new(types).matches(content_type)
}

/// A list of media types (`text/*`, `application/*+json`, exact types)
/// prepared once, so matching a Content-Type on every hit compares bytes in
/// place: no allocation, no re-parsing of the list.
#[derive(Clone, Debug, Default)]
pub struct TypeMatcher {
    /// (before the `*`, after it) lower-cased; exact types have no `*`.
    patterns: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl TypeMatcher {
    /// Prepare `types`.
    pub fn new(types: &[String]) -> TypeMatcher {
        let patterns = types
            .iter()
            .map(|t| {
                let t = t.to_ascii_lowercase();
                match t.split_once('*') {
                    None => (t.into_bytes(), None),
                    Some((pre, post)) => (pre.as_bytes().to_vec(), Some(post.as_bytes().to_vec())),
                }
            })
            .collect();
        TypeMatcher { patterns }
    }

    /// Is `content_type`'s media type (parameters ignored) in the list?
    pub fn matches(&self, content_type: Option<&HeaderValue>) -> bool {
        let Some(ct) = content_type else {
            return false;
        };
        let b = ct.as_bytes();
        let end = b.iter().position(|c| *c == b';').unwrap_or(b.len());
        let essence = b[..end].trim_ascii();
        self.patterns.iter().any(|(pre, post)| match post {
            None => essence.eq_ignore_ascii_case(pre),
            Some(post) => {
                essence.len() >= pre.len() + post.len()
                    && essence[..pre.len()].eq_ignore_ascii_case(pre)
                    && essence[essence.len() - post.len()..].eq_ignore_ascii_case(post)
            }
        })
    }
}

/// RFC 9111 §5.2.1.6 / §5.2.2.6: `no-transform` in `headers`' Cache-Control
/// forbids an intermediary to transform the content.
pub fn no_transform(headers: &HeaderMap) -> bool {
    CacheControl::from_headers(headers, header::CACHE_CONTROL).has("no-transform")
}

/// The ETag of a representation transformed into `coding`: weak (the bytes
/// depend on the compressor and its level, so they are not a strong
/// validator's promise, RFC 9110 §8.8.1) and suffixed with the coding, so
/// it never matches the stored form's: `"abc"` → `W/"abc-gzip"`.
pub fn transformed_etag(etag: &HeaderValue, coding: Coding) -> Option<HeaderValue> {
    let s = etag.to_str().ok()?.trim();
    let opaque = s.strip_prefix("W/").unwrap_or(s);
    let inner = opaque.strip_prefix('"')?.strip_suffix('"')?;
    HeaderValue::from_str(&format!("W/\"{inner}-{}\"", coding.as_str())).ok()
}

/// Add `Accept-Encoding` to `headers`' Vary unless it is there (or `*` is).
pub fn vary_on_accept_encoding(headers: &mut HeaderMap) {
    let listed = members(headers, header::VARY);
    if listed
        .iter()
        .any(|m| m == "*" || m.eq_ignore_ascii_case("accept-encoding"))
    {
        return;
    }
    headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
}

/// The key of `coding`'s form of the stored response `meta` under
/// `parent`. It covers the stored copy's identity (when it was received,
/// the purge sequence it was fetched under, its validators), so a form is
/// only ever found beside the copy it was made from: a refetch after a
/// purge, or a revalidation, leads to new keys, and the old forms are left
/// to eviction.
pub fn form_key(parent: &ObjectKey, meta: &CachedResponse, coding: Coding) -> ObjectKey {
    let received = meta
        .response_time
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let field = |h| meta.headers.get(h).map_or(&b""[..], HeaderValue::as_bytes);
    ObjectKey::derive(&[
        b"edgecache-content-coding",
        &parent.0,
        coding.as_str().as_bytes(),
        &received.to_le_bytes(),
        &meta.purge_seq.to_le_bytes(),
        field(header::ETAG),
        field(header::LAST_MODIFIED),
    ])
}

#[cfg(test)]
mod tests;
