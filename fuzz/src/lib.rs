//! Shared input shaping for the fuzz targets: raw fuzzer bytes become the
//! header field lines a parser would see from the network.

use http::{HeaderMap, HeaderName, HeaderValue};

/// Split `data` on `\n` into field values, dropping any a real header line
/// could not carry (CR, NUL): exactly what hyper hands the node.
pub fn lines(data: &[u8]) -> Vec<HeaderValue> {
    data.split(|b| *b == b'\n')
        .filter_map(|l| HeaderValue::from_bytes(l).ok())
        .collect()
}

/// A header map with every line of `data` appended as a field `name`.
pub fn header(name: &'static str, data: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    let name = HeaderName::from_static(name);
    for v in lines(data) {
        h.append(name.clone(), v);
    }
    h
}

/// The first eight bytes as a little-endian integer (zero-padded), and the rest.
pub fn take_u64(data: &[u8]) -> (u64, &[u8]) {
    let n = data.len().min(8);
    let mut b = [0u8; 8];
    b[..n].copy_from_slice(&data[..n]);
    (u64::from_le_bytes(b), &data[n..])
}
