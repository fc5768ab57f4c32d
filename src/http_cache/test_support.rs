//! Helpers shared by this module's table-driven tests.

use http::{HeaderMap, HeaderName, HeaderValue};

/// Build a header map from (name, value) pairs, appending repeated names.
pub fn headers<N: AsRef<str>, V: AsRef<str>>(fields: &[(N, V)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in fields {
        h.append(
            HeaderName::from_bytes(n.as_ref().as_bytes()).expect("valid name"),
            HeaderValue::from_str(v.as_ref()).expect("valid value"),
        );
    }
    h
}

/// A stored 200 response with `fields`, received at the Unix epoch.
pub fn cached<N: AsRef<str>, V: AsRef<str>>(fields: &[(N, V)]) -> super::CachedResponse {
    super::CachedResponse {
        status: http::StatusCode::OK,
        headers: headers(fields),
        request_time: std::time::SystemTime::UNIX_EPOCH,
        response_time: std::time::SystemTime::UNIX_EPOCH,
        initial_age: 0,
        variant: vec![],
        purge_seq: 0,
        surrogate_keys: vec![],
    }
}
