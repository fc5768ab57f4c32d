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
