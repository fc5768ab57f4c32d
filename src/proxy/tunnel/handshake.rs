//! The WebSocket opening handshake as a proxy sees it: which requests ask
//! for a tunnel (RFC 6455 §4.1, RFC 8441 §4), what the client must send,
//! the fields added for the origin, the check of the origin's 101
//! (§4.2.2's accept key), and the fields the client gets back. Pure header
//! functions; the exchange itself is in [`super`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Version, request};

/// RFC 6455 §1.3: appended to the key before hashing.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Most bytes the `Sec-WebSocket-*` fields of a request may take together.
pub const MAX_WS_FIELD_BYTES: usize = 4096;

/// `Sec-WebSocket-Key`.
pub const SEC_WEBSOCKET_KEY: HeaderName = HeaderName::from_static("sec-websocket-key");
/// `Sec-WebSocket-Accept`.
pub const SEC_WEBSOCKET_ACCEPT: HeaderName = HeaderName::from_static("sec-websocket-accept");
/// `Sec-WebSocket-Version`.
pub const SEC_WEBSOCKET_VERSION: HeaderName = HeaderName::from_static("sec-websocket-version");

/// How a client asks for a WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// HTTP/1.1 `GET` with `Connection: upgrade` and `Upgrade: websocket`.
    Upgrade,
    /// HTTP/2 `CONNECT` with `:protocol = websocket` (RFC 8441).
    ExtendedConnect,
}

/// Why a handshake request is refused before it reaches the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// 400, with the reason.
    BadRequest(&'static str),
    /// 426 with `Sec-WebSocket-Version: 13`: a version this node does not
    /// speak (RFC 6455 §4.2.2).
    Version,
}

/// Does this request ask for a WebSocket? Cheap for every other request:
/// a method comparison, then one field lookup for a GET.
pub fn asks(parts: &request::Parts) -> Option<Ask> {
    if parts.method == Method::GET {
        if parts.version != Version::HTTP_11 {
            return None;
        }
        let upgrade = parts.headers.get_all(header::UPGRADE);
        let wants = upgrade.iter().any(|v| has_token(v, "websocket"));
        let named = wants
            && parts
                .headers
                .get_all(header::CONNECTION)
                .iter()
                .any(|v| has_token(v, "upgrade"));
        return named.then_some(Ask::Upgrade);
    }
    if parts.method == Method::CONNECT && parts.version == Version::HTTP_2 {
        let protocol = parts.extensions.get::<hyper::ext::Protocol>()?;
        return protocol
            .as_str()
            .eq_ignore_ascii_case("websocket")
            .then_some(Ask::ExtendedConnect);
    }
    None
}

/// Does the comma-separated field value `v` list `token` (case-insensitive)?
fn has_token(v: &HeaderValue, token: &str) -> bool {
    v.to_str()
        .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Check what the client must send (RFC 6455 §4.1, RFC 8441 §5): a key of
/// 16 bytes in base64 (HTTP/1.1 only: over HTTP/2 there is none), version
/// 13, and `Sec-WebSocket-*` fields of bounded size.
pub fn check_request(ask: Ask, headers: &HeaderMap) -> Result<(), Malformed> {
    let ws_bytes: usize = headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("sec-websocket-"))
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    if ws_bytes > MAX_WS_FIELD_BYTES {
        return Err(Malformed::BadRequest("Sec-WebSocket fields too large"));
    }
    let mut versions = headers.get_all(&SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.as_bytes() == b"13" => {}
        // RFC 8441 §5 carries the version over HTTP/2 too; one without it
        // gets version 13 upstream, the only one there is.
        (None, None) if ask == Ask::ExtendedConnect => {}
        (None, None) => return Err(Malformed::BadRequest("missing Sec-WebSocket-Version")),
        _ => return Err(Malformed::Version),
    }
    if ask == Ask::Upgrade {
        let mut keys = headers.get_all(&SEC_WEBSOCKET_KEY).iter();
        match (keys.next(), keys.next()) {
            (Some(k), None) if valid_key(k.as_bytes()) => {}
            _ => {
                return Err(Malformed::BadRequest(
                    "missing or malformed Sec-WebSocket-Key",
                ));
            }
        }
    }
    Ok(())
}

/// A key is the base64 encoding of 16 bytes (RFC 6455 §4.1, item 7).
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24 && STANDARD.decode(key).is_ok_and(|k| k.len() == 16)
}

/// RFC 6455 §4.2.2: `base64(SHA-1(key ++ GUID))`.
pub fn accept_key(key: &[u8]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key);
    ctx.update(ACCEPT_GUID);
    STANDARD.encode(ctx.finish())
}

/// A fresh key for a handshake the node makes itself (RFC 6455 §4.1: 16
/// random bytes in base64). `None` if the system has no randomness.
pub fn new_key() -> Option<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(STANDARD.encode(bytes))
}

/// Turn the forwarded request fields (hop-by-hop fields already removed)
/// into an HTTP/1.1 upgrade: `Connection`, `Upgrade`, version 13 and the
/// key the origin must answer, which is returned. For an HTTP/1.1 client
/// the key is the client's own; for an HTTP/2 one it is `fresh`.
pub fn upstream_fields(
    ask: Ask,
    headers: &mut HeaderMap,
    fresh: impl FnOnce() -> Option<String>,
) -> Option<HeaderValue> {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    // A GET upgrade carries no content.
    headers.remove(header::CONTENT_LENGTH);
    if ask == Ask::ExtendedConnect {
        let key = HeaderValue::from_str(&fresh()?).ok()?;
        headers.insert(SEC_WEBSOCKET_KEY, key);
    }
    headers.get(&SEC_WEBSOCKET_KEY).cloned()
}

/// Is the origin's 101 a WebSocket switch answering `key` (RFC 6455
/// §4.1, the client's checks 2 to 4)? Else the reason.
pub fn check_switch(origin: &HeaderMap, key: &HeaderValue) -> Result<(), &'static str> {
    if !origin
        .get_all(header::UPGRADE)
        .iter()
        .any(|v| has_token(v, "websocket"))
    {
        return Err("101 without Upgrade: websocket");
    }
    if !origin
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| has_token(v, "upgrade"))
    {
        return Err("101 without Connection: upgrade");
    }
    let expected = accept_key(key.as_bytes());
    let mut accepts = origin.get_all(&SEC_WEBSOCKET_ACCEPT).iter();
    match (accepts.next(), accepts.next()) {
        (Some(a), None) if a.as_bytes() == expected.as_bytes() => Ok(()),
        _ => Err("101 with a wrong Sec-WebSocket-Accept"),
    }
}

/// The fields the client gets with its switch, from the origin's 101
/// (hop-by-hop fields already removed): for HTTP/1.1 the upgrade fields
/// and the accept key; for HTTP/2 neither (RFC 8441 §5: a 200 and no
/// accept key). `Sec-WebSocket-Protocol` and `-Extensions` pass both ways.
pub fn downstream_fields(ask: Ask, headers: &mut HeaderMap) {
    headers.remove(header::CONTENT_LENGTH);
    match ask {
        Ask::Upgrade => {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        Ask::ExtendedConnect => {
            headers.remove(&SEC_WEBSOCKET_ACCEPT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, version: Version, fields: &[(&str, &str)]) -> request::Parts {
        let mut b = http::Request::builder()
            .method(method)
            .version(version)
            .uri("/chat");
        for (n, v) in fields {
            b = b.header(*n, *v);
        }
        b.body(()).expect("request").into_parts().0
    }

    #[test]
    fn which_requests_ask_for_a_websocket() {
        let (get, h11) = (Method::GET, Version::HTTP_11);
        let both = [
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ];
        let rows: Vec<(request::Parts, Option<Ask>)> = vec![
            (parts(get.clone(), h11, &both), Some(Ask::Upgrade)),
            (
                parts(
                    get.clone(),
                    h11,
                    &[("connection", "upgrade"), ("upgrade", "h2c")],
                ),
                None,
            ),
            (parts(get.clone(), h11, &[("upgrade", "websocket")]), None),
            (parts(get.clone(), Version::HTTP_10, &both), None),
            (parts(Method::POST, h11, &both), None),
            (parts(get.clone(), h11, &[]), None),
            (parts(Method::CONNECT, Version::HTTP_2, &[]), None),
        ];
        for (i, (p, want)) in rows.into_iter().enumerate() {
            assert_eq!(asks(&p), want, "row {i}");
        }
        let mut ws = parts(Method::CONNECT, Version::HTTP_2, &[]);
        ws.extensions
            .insert(hyper::ext::Protocol::from_static("websocket"));
        assert_eq!(asks(&ws), Some(Ask::ExtendedConnect));
        let mut other = parts(Method::CONNECT, Version::HTTP_2, &[]);
        other
            .extensions
            .insert(hyper::ext::Protocol::from_static("connect-udp"));
        assert_eq!(asks(&other), None);
    }

    /// RFC 6455 §1.3's worked example.
    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn fresh_keys_are_valid_and_differ() {
        let (a, b) = (new_key().expect("random"), new_key().expect("random"));
        assert!(valid_key(a.as_bytes()) && valid_key(b.as_bytes()));
        assert_ne!(a, b);
    }

    #[test]
    fn request_checks() {
        use Malformed::BadRequest;
        let key = ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        let v13 = ("sec-websocket-version", "13");
        let long = "a".repeat(MAX_WS_FIELD_BYTES);
        let rows: Vec<(Ask, Vec<(&str, &str)>, Result<(), Malformed>)> = vec![
            (Ask::Upgrade, vec![key, v13], Ok(())),
            (
                Ask::Upgrade,
                vec![v13],
                Err(BadRequest("missing or malformed Sec-WebSocket-Key")),
            ),
            (
                Ask::Upgrade,
                vec![("sec-websocket-key", "c2hvcnQ="), v13],
                Err(BadRequest("missing or malformed Sec-WebSocket-Key")),
            ),
            (
                Ask::Upgrade,
                vec![key, key, v13],
                Err(BadRequest("missing or malformed Sec-WebSocket-Key")),
            ),
            (
                Ask::Upgrade,
                vec![key],
                Err(BadRequest("missing Sec-WebSocket-Version")),
            ),
            (
                Ask::Upgrade,
                vec![key, ("sec-websocket-version", "8")],
                Err(Malformed::Version),
            ),
            (
                Ask::Upgrade,
                vec![key, v13, ("sec-websocket-protocol", long.as_str())],
                Err(BadRequest("Sec-WebSocket fields too large")),
            ),
            (Ask::ExtendedConnect, vec![], Ok(())),
            (Ask::ExtendedConnect, vec![v13], Ok(())),
        ];
        for (i, (ask, fields, want)) in rows.into_iter().enumerate() {
            let p = parts(Method::GET, Version::HTTP_11, &fields);
            assert_eq!(check_request(ask, &p.headers), want, "row {i}");
        }
    }

    #[test]
    fn switch_checks_the_accept_key_and_the_upgrade_fields() {
        let key = HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ==");
        let good = [
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ];
        let p = |f: &[(&str, &str)]| parts(Method::GET, Version::HTTP_11, f).headers;
        assert_eq!(check_switch(&p(&good), &key), Ok(()));
        assert!(check_switch(&p(&good[..2]), &key).is_err());
        assert!(check_switch(&p(&[good[0], good[2]]), &key).is_err());
        let wrong = [
            good[0],
            good[1],
            ("sec-websocket-accept", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ];
        assert!(check_switch(&p(&wrong), &key).is_err());
    }

    #[test]
    fn an_http2_client_gets_a_fresh_key_upstream_and_no_accept_back() {
        let mut h = HeaderMap::new();
        h.insert("sec-websocket-protocol", HeaderValue::from_static("chat"));
        let key = upstream_fields(Ask::ExtendedConnect, &mut h, || Some("a".repeat(24)));
        assert_eq!(
            key,
            Some(HeaderValue::from_static("aaaaaaaaaaaaaaaaaaaaaaaa"))
        );
        assert_eq!(h.get("upgrade").expect("upgrade"), "websocket");
        assert_eq!(h.get("sec-websocket-version").expect("version"), "13");
        let mut back = HeaderMap::new();
        back.insert(SEC_WEBSOCKET_ACCEPT, HeaderValue::from_static("x"));
        back.insert("sec-websocket-protocol", HeaderValue::from_static("chat"));
        downstream_fields(Ask::ExtendedConnect, &mut back);
        assert!(!back.contains_key(SEC_WEBSOCKET_ACCEPT));
        assert_eq!(back.get("sec-websocket-protocol").expect("kept"), "chat");
    }
}
