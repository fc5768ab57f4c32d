//! The request target (RFC 9112 §3.2, RFC 9110 §7.1): absolute-form vs
//! Host, host validation, and the listener's scheme. Pure: no I/O.

use crate::error::ProxyError;
use crate::http_cache::canonical;
use http::{HeaderMap, Uri};

/// The scheme of the listener a request came in on: it names the resource
/// (the cache key's scheme) and is what `X-Forwarded-Proto` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// A plaintext listener (HTTP/1.1, h2c).
    Http,
    /// A TLS listener (HTTP/1.1, h2) or HTTP/3.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Where a request is aimed.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http` or `https`: the scheme of the listener the request came in on.
    pub scheme: &'static str,
    /// The authority as sent (lower-cased).
    pub authority: String,
    /// The host part of the authority, without port.
    pub host: String,
    /// Path and query, `/` when empty.
    pub path_and_query: String,
}

/// Derive the target of a request from its URI and Host field.
pub fn target(
    uri: &Uri,
    headers: &HeaderMap,
    version: http::Version,
    scheme: Scheme,
) -> Result<Target, ProxyError> {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let (first_host, second_host) = (hosts.next(), hosts.next());
    if second_host.is_some() {
        return Err(ProxyError::Downstream("more than one Host field".into()));
    }
    let raw = match uri.authority() {
        Some(a) => a.as_str(),
        None => match first_host {
            Some(h) => h
                .to_str()
                .map_err(|_| ProxyError::Downstream("Host is not ASCII".into()))?
                .trim(),
            None if version == http::Version::HTTP_10 => "",
            None => return Err(ProxyError::Downstream("missing Host".into())),
        },
    };
    if !raw.is_empty() && !canonical::valid_authority(raw.as_bytes()) {
        return Err(ProxyError::Downstream(format!("invalid Host `{raw}`")));
    }
    // One spelling per resource (http_cache::canonical): what is keyed is
    // also what the origin receives.
    let mut authority = raw.to_ascii_lowercase();
    let canon = canonical::authority(&authority);
    if matches!(canon, std::borrow::Cow::Owned(_)) || canon.len() != authority.len() {
        authority = canon.into_owned();
    }
    let host = strip_port(&authority).to_string();
    let path_and_query = match uri.path_and_query() {
        Some(pq) if !pq.as_str().is_empty() => canonical::path_and_query(pq.as_str()).into_owned(),
        _ => "/".to_string(),
    };
    if !path_and_query.starts_with('/') && path_and_query != "*" {
        return Err(ProxyError::Downstream(
            "request target must be origin-form or absolute-form".into(),
        ));
    }
    Ok(Target {
        scheme: scheme.as_str(),
        authority,
        host,
        path_and_query,
    })
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split(']')
            .next()
            .map(|s| &authority[..s.len() + 1])
            .unwrap_or(authority);
    }
    authority.rsplit_once(':').map_or(authority, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            authority
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9112 §3.2: absolute-form wins over Host; HTTP/1.1 needs Host.
    #[test]
    fn derives_target() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert("host", v.parse().expect("valid"));
            m
        };
        let t = target(
            &"/a?b".parse().expect("uri"),
            &h("Example.com:8080"),
            http::Version::HTTP_11,
            Scheme::Http,
        )
        .expect("ok");
        assert_eq!(
            (
                t.authority.as_str(),
                t.host.as_str(),
                t.path_and_query.as_str()
            ),
            ("example.com:8080", "example.com", "/a?b")
        );
        let t = target(
            &"http://abs.example/x".parse().expect("uri"),
            &h("other"),
            http::Version::HTTP_11,
            Scheme::Http,
        )
        .expect("ok");
        assert_eq!(t.host, "abs.example");
        assert!(
            target(
                &"/".parse().expect("uri"),
                &HeaderMap::new(),
                http::Version::HTTP_11,
                Scheme::Http,
            )
            .is_err()
        );
        assert!(
            target(
                &"/".parse().expect("uri"),
                &h("bad host"),
                http::Version::HTTP_11,
                Scheme::Http,
            )
            .is_err()
        );
        assert!(
            target(
                &"/".parse().expect("uri"),
                &h("user@host"),
                http::Version::HTTP_11,
                Scheme::Http,
            )
            .is_err()
        );
        let mut two = h("a");
        two.append("host", "b".parse().expect("valid"));
        assert!(
            target(
                &"/".parse().expect("uri"),
                &two,
                http::Version::HTTP_11,
                Scheme::Http
            )
            .is_err()
        );
        assert_eq!(strip_port("[::1]:80"), "[::1]");
    }

    /// The scheme comes from the listener, never from the request: an
    /// absolute-form `http://` target (or an h2 `:scheme`) on a TLS
    /// listener still names the https resource, and vice versa.
    #[test]
    fn scheme_is_the_listeners() {
        let abs = "http://a.example/x".parse().expect("uri");
        let t = target(
            &abs,
            &HeaderMap::new(),
            http::Version::HTTP_11,
            Scheme::Https,
        );
        assert_eq!(t.expect("ok").scheme, "https");
        let abs = "https://a.example/x".parse().expect("uri");
        let t = target(&abs, &HeaderMap::new(), http::Version::HTTP_2, Scheme::Http);
        assert_eq!(t.expect("ok").scheme, "http");
    }
}
