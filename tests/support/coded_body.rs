//! Content-coded bodies for tests: gzip a body, and decode a response by
//! its Content-Encoding with the reference crates (flate2, brotli, zstd).

use super::Got;
use std::io::{Read, Write};

/// `bytes` gzipped at the default level.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// The body as its Content-Encoding says, decoded by the reference crates.
pub fn decoded(got: &Got) -> Vec<u8> {
    let mut out = Vec::new();
    let b = &got.body[..];
    match got.header("content-encoding") {
        None => out.extend_from_slice(b),
        Some("gzip") => {
            flate2::read::GzDecoder::new(b)
                .read_to_end(&mut out)
                .expect("gunzip");
        }
        Some("br") => {
            brotli::Decompressor::new(b, 4096)
                .read_to_end(&mut out)
                .expect("unbrotli");
        }
        Some("zstd") => out = zstd::decode_all(b).expect("unzstd"),
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    out
}

/// Does the response's Vary list Accept-Encoding?
pub fn varies_on_accept_encoding(got: &Got) -> bool {
    got.headers.get_all("vary").iter().any(|v| {
        v.to_str()
            .unwrap_or("")
            .to_ascii_lowercase()
            .contains("accept-encoding")
    })
}
