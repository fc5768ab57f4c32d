//! Header rules for forwarding a message (RFC 9110 §7.6): hop-by-hop fields,
//! Via, and the X-Forwarded-* fields.

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};
use std::net::IpAddr;

/// Fields that are always hop-by-hop (RFC 9110 §7.6.1; `Keep-Alive` and
/// `Proxy-Connection` as widely deployed). `Trailer` is end-to-end in RFC 9110
/// and is kept, so trailers can pass through.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Remove hop-by-hop fields, including every field named in `Connection`.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names first: most messages carry none of them, and
    // a removal by name hashes it.
    if !headers.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        remove_connection_named(headers);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

fn remove_connection_named(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().to_ascii_lowercase().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(&name);
    }
}

/// Append this node to Via (RFC 9110 §7.6.3).
pub fn append_via(headers: &mut HeaderMap, version: http::Version, pseudonym: &str) {
    let proto = match version {
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{proto} {pseudonym}")) {
        headers.append(header::VIA, v);
    }
}

/// Append the client address to X-Forwarded-For.
pub fn append_forwarded_for(headers: &mut HeaderMap, client: IpAddr) {
    let name = HeaderName::from_static("x-forwarded-for");
    if !headers.contains_key(&name) {
        headers.insert(name, ip_value(client));
        return;
    }
    let prior: Vec<String> = headers
        .get_all(&name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect();
    let mut all = prior.join(", ");
    if !all.is_empty() {
        all.push_str(", ");
    }
    all.push_str(&client.to_string());
    if let Ok(v) = HeaderValue::from_str(&all) {
        headers.insert(name, v);
    }
}

/// An address as a field value; IPv4 without the formatting machinery.
fn ip_value(ip: IpAddr) -> HeaderValue {
    let IpAddr::V4(v4) = ip else {
        return HeaderValue::from_str(&ip.to_string()).unwrap_or(HeaderValue::from_static(""));
    };
    let mut buf = [0u8; 15];
    let mut n = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        if octet >= 100 {
            buf[n] = b'0' + octet / 100;
            n += 1;
        }
        if octet >= 10 {
            buf[n] = b'0' + octet / 10 % 10;
            n += 1;
        }
        buf[n] = b'0' + octet % 10;
        n += 1;
    }
    HeaderValue::from_bytes(&buf[..n]).unwrap_or(HeaderValue::from_static(""))
}

/// Request fields that commonly change an origin's response but are not part
/// of the cache key: forwarded unkeyed, any of them lets one client shape a
/// response stored for everyone (cache poisoning). They are removed before
/// forwarding unless the operator names them in `upstream.forward_fields`,
/// which also adds them to the cache key. `X-Forwarded-Proto` and
/// `Forwarded` are handled apart: the node sets the former itself and keeps
/// a client's only when the client is a trusted proxy.
/// `edgecache-fleet-seq` (a peer's purge-stream position, see
/// `proxy::tier`) is node-internal and never reaches the origin.
pub const UNKEYED_REQUEST_FIELDS: [&str; 21] = [
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-scheme",
    "x-forwarded-server",
    "x-forwarded-prefix",
    "x-forwarded-ssl",
    "x-forwarded-uri",
    "x-forwarded-path",
    "x-original-url",
    "x-original-uri",
    "x-original-host",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-host",
    "x-http-host-override",
    "front-end-https",
    "x-url-scheme",
    "x-proxyuser-ip",
    "edgecache-fleet-seq",
];

/// Fields a client may only set through a trusted proxy.
const PROXY_SET_FIELDS: [HeaderName; 2] = [
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("forwarded"),
];

/// Remove the unkeyed fields (`strip`) and, for an untrusted client, the
/// proxy-set ones. One pass over the names first: most requests carry none.
fn remove_unkeyed(headers: &mut HeaderMap, strip: &[HeaderName], trusted: bool) {
    let hit = |k: &HeaderName| strip.contains(k) || (!trusted && PROXY_SET_FIELDS.contains(k));
    if !headers.keys().any(hit) {
        return;
    }
    for name in strip {
        headers.remove(name);
    }
    if !trusted {
        for name in &PROXY_SET_FIELDS {
            headers.remove(name);
        }
    }
}

/// Build the request to send upstream from the client's request head:
/// hop-by-hop and unkeyed fields removed, Host kept (or set to the origin),
/// Via and X-Forwarded-* added.
pub fn upstream_request(
    ex: &crate::proxy::exchange::Exchange,
    body: crate::body::Body,
) -> http::Request<crate::body::Body> {
    let pipeline = &ex.pipeline;
    let (parts, target) = (&ex.parts, &ex.target);
    let up = &pipeline.cfg.upstream;
    let mut headers = parts.headers.clone();
    let wants_trailers = headers
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        });
    remove_hop_by_hop(&mut headers);
    let trusted = pipeline.trusts_proxy(ex.client.ip());
    remove_unkeyed(&mut headers, &pipeline.strip_request_fields, trusted);
    if wants_trailers {
        // We relay trailers, so we may ask the origin for them (RFC 9110 §10.1.4).
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    let host = if up.preserve_host {
        target.authority.as_str()
    } else {
        ex.site.origin.authority().unwrap_or_default()
    };
    // The client's own Host usually is the target's authority already.
    if headers.get(header::HOST).map(HeaderValue::as_bytes) != Some(host.as_bytes())
        && let Ok(v) = HeaderValue::from_str(host)
    {
        headers.insert(header::HOST, v);
    }
    if parts.version == http::Version::HTTP_11 {
        headers.append(header::VIA, pipeline.via_11.clone());
    } else {
        append_via(&mut headers, parts.version, &pipeline.cfg.server.cache_name);
    }
    if up.x_forwarded_for {
        append_forwarded_for(&mut headers, ex.client.ip());
    }
    crate::proxy::tier::mark_forwarded(pipeline.tier.as_ref(), &mut headers);
    if let Some(ours) = &pipeline.surrogate_capability {
        let name = HeaderName::from_static("surrogate-capability");
        let value = match headers.get(&name).and_then(|v| v.to_str().ok()) {
            Some(prior) if !prior.trim().is_empty() => {
                HeaderValue::from_str(&format!("{prior}, {}", ours.to_str().unwrap_or_default()))
                    .ok()
            }
            _ => Some(ours.clone()),
        };
        if let Some(v) = value {
            headers.insert(name, v);
        }
    }
    // A trusted proxy's own X-Forwarded-Proto names the scheme its client used.
    if up.x_forwarded_proto && !(trusted && headers.contains_key(&PROXY_SET_FIELDS[0])) {
        headers.insert(
            PROXY_SET_FIELDS[0].clone(),
            HeaderValue::from_static(target.scheme),
        );
    }
    let mut req = http::Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.headers_mut() = headers;
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110 §7.6.1: hop-by-hop fields and those named by Connection go.
    #[test]
    fn strips_hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, X-Secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["x-keep"]);
    }

    /// Unkeyed fields never reach the origin; X-Forwarded-Proto and
    /// Forwarded only from a trusted proxy.
    #[test]
    fn removes_unkeyed_fields() {
        let strip: Vec<HeaderName> = UNKEYED_REQUEST_FIELDS
            .iter()
            .map(|f| HeaderName::from_static(f))
            .collect();
        let fields = [
            ("x-forwarded-host", "evil"),
            ("x-original-url", "/admin"),
            ("x-http-method-override", "DELETE"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "host=evil"),
            ("accept", "*/*"),
        ];
        let cases: &[(bool, &[&str])] = &[
            (false, &["accept"]),
            (true, &["x-forwarded-proto", "forwarded", "accept"]),
        ];
        for (trusted, want) in cases {
            let mut h = crate::http_cache::test_support::headers(&fields);
            remove_unkeyed(&mut h, &strip, *trusted);
            let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
            names.sort_unstable();
            let mut want = want.to_vec();
            want.sort_unstable();
            assert_eq!(names, want, "trusted: {trusted}");
        }
    }

    #[test]
    fn appends_via_and_xff() {
        let mut h = HeaderMap::new();
        h.insert("via", HeaderValue::from_static("1.0 fred"));
        append_via(&mut h, http::Version::HTTP_11, "edgecache");
        let via: Vec<&str> = h
            .get_all("via")
            .iter()
            .map(|v| v.to_str().expect("ascii"))
            .collect();
        assert_eq!(via, vec!["1.0 fred", "1.1 edgecache"]);
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        append_forwarded_for(&mut h, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(
            h.get("x-forwarded-for").expect("set"),
            "10.0.0.1, 127.0.0.1"
        );
    }

    #[test]
    fn ipv4_values_match_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "1.100.9.99",
        ] {
            let addr: IpAddr = ip.parse().expect("ip");
            assert_eq!(ip_value(addr), ip);
        }
        let v6: IpAddr = "::1".parse().expect("ip");
        assert_eq!(ip_value(v6), "::1");
    }
}
