//! Invalidation after unsafe methods (RFC 9111 §4.4).

use http::{HeaderMap, Method, StatusCode};

/// Does a response to `method` with `status` invalidate stored responses?
/// Unsafe methods with a non-error status do (§4.4).
pub fn invalidates(method: &Method, status: StatusCode) -> bool {
    !method.is_safe() && (status.is_success() || status.is_redirection())
}

/// The URIs to invalidate, as (authority, path-and-query) in the request's
/// scheme: the target URI, plus Location and Content-Location when they share
/// its origin (§4.4: "MUST NOT" across origins).
pub fn targets(
    scheme: &str,
    authority: &str,
    path_and_query: &str,
    response: &HeaderMap,
) -> Vec<(String, String)> {
    let mut out = vec![(authority.to_ascii_lowercase(), path_and_query.to_string())];
    for field in [http::header::LOCATION, http::header::CONTENT_LOCATION] {
        let Some(v) = response.get(&field).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if let Some((auth, pq)) = resolve(scheme, authority, path_and_query, v.trim())
            && auth.eq_ignore_ascii_case(authority)
            && !out.iter().any(|(a, p)| a == &auth && p == &pq)
        {
            out.push((auth.to_ascii_lowercase(), pq));
        }
    }
    out
}

/// Is `reference` (a Content-Location value) the request's own target URI?
pub fn is_target(scheme: &str, authority: &str, path_and_query: &str, reference: &str) -> bool {
    resolve(scheme, authority, path_and_query, reference.trim())
        .is_some_and(|(a, p)| a.eq_ignore_ascii_case(authority) && p == path_and_query)
}

/// Resolve a URI reference against the request URI (RFC 3986 §5.2, enough of
/// it for Location and Content-Location). Returns (authority, path-and-query)
/// when the reference stays within `scheme`.
fn resolve(
    scheme: &str,
    authority: &str,
    base_path: &str,
    reference: &str,
) -> Option<(String, String)> {
    let reference = reference.split('#').next().unwrap_or("");
    if let Some((ref_scheme, rest)) = reference.split_once("://") {
        if !ref_scheme.eq_ignore_ascii_case(scheme) {
            return None;
        }
        return Some(split_authority(rest));
    }
    if let Some(rest) = reference.strip_prefix("//") {
        return Some(split_authority(rest));
    }
    if reference.starts_with('/') {
        return Some((authority.to_string(), reference.to_string()));
    }
    if reference.is_empty() {
        return Some((authority.to_string(), base_path.to_string()));
    }
    if reference.starts_with('?') {
        let path = base_path.split('?').next().unwrap_or("/");
        return Some((authority.to_string(), format!("{path}{reference}")));
    }
    let path = base_path.split('?').next().unwrap_or("/");
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    Some((
        authority.to_string(),
        remove_dot_segments(&format!("{dir}{reference}")),
    ))
}

fn split_authority(rest: &str) -> (String, String) {
    match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (rest[..i].to_string(), rest[i..].to_string()),
        Some(i) => (rest[..i].to_string(), format!("/{}", &rest[i..])),
        None => (rest.to_string(), "/".to_string()),
    }
}

fn remove_dot_segments(path: &str) -> String {
    let (p, q) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if let Some(q) = q {
        s.push('?');
        s.push_str(q);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9111 §4.4: which statuses invalidate.
    #[test]
    fn unsafe_non_error_invalidates() {
        let cases = [
            (Method::POST, 200, true),
            (Method::PUT, 204, true),
            (Method::DELETE, 302, true),
            (Method::POST, 404, false),
            (Method::POST, 500, false),
            (Method::GET, 200, false),
            (Method::HEAD, 200, false),
            (Method::OPTIONS, 200, false),
            (Method::from_bytes(b"FOO").expect("method"), 200, true),
        ];
        for (m, s, want) in cases {
            assert_eq!(
                invalidates(&m, StatusCode::from_u16(s).expect("status")),
                want,
                "{m} {s}"
            );
        }
    }

    /// RFC 9111 §4.4: Location and Content-Location, same origin only.
    #[test]
    fn collects_targets() {
        let cases: &[(&[(&str, &str)], &[(&str, &str)])] = &[
            (&[], &[("h", "/a/b?x")]),
            (&[("location", "/c")], &[("h", "/a/b?x"), ("h", "/c")]),
            (&[("location", "c")], &[("h", "/a/b?x"), ("h", "/a/c")]),
            (&[("location", "../c")], &[("h", "/a/b?x"), ("h", "/c")]),
            (
                &[("content-location", "http://h/d")],
                &[("h", "/a/b?x"), ("h", "/d")],
            ),
            (
                &[("content-location", "http://other/d")],
                &[("h", "/a/b?x")],
            ),
            (&[("location", "https://h/d")], &[("h", "/a/b?x")]),
            (&[("location", "//h/e")], &[("h", "/a/b?x"), ("h", "/e")]),
        ];
        for (fields, want) in cases {
            let hm = crate::http_cache::test_support::headers(fields);
            let got = targets("http", "h", "/a/b?x", &hm);
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(a, p)| (a.to_string(), p.to_string()))
                .collect();
            assert_eq!(got, want, "{fields:?}");
        }
    }
}
