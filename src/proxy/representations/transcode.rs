//! The body work behind content-coding negotiation: encode a stored body
//! into gzip, br or zstd, or decode one back to identity, in memory and
//! bounded. Decoding reads at most `max` bytes of output, so a zip bomb
//! costs at most that much memory before it is refused (and the caller
//! then passes the origin's bytes through). CPU-bound: callers run it on a
//! blocking thread.

use crate::config::CompressionConfig;
use crate::http_cache::content_coding::Coding;
use std::io::{Read, Write};

/// Why a body could not be transcoded.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The decoded body would exceed the limit.
    #[error("decoded body exceeds {0} bytes")]
    TooLarge(u64),
    /// The encoded body is corrupt (or the encoder failed).
    #[error("{0}")]
    Codec(#[from] std::io::Error),
}

/// The compressor levels, from the site's `[compression]` settings.
#[derive(Clone, Copy, Debug)]
pub struct Levels {
    /// gzip, 1 to 9.
    pub gzip: u32,
    /// Brotli quality, 0 to 11.
    pub br: u32,
    /// zstd, 1 to 19.
    pub zstd: i32,
}

impl From<&CompressionConfig> for Levels {
    fn from(c: &CompressionConfig) -> Levels {
        Levels {
            gzip: c.gzip_level,
            br: c.br_level,
            zstd: c.zstd_level,
        }
    }
}

/// Brotli's window: 4 MiB (lgwin 22, its default), enough for any body
/// the node transforms by default.
const BR_LGWIN: u32 = 22;
const BUF: usize = 16 << 10;

/// `body` (in coding `from`) as coding `to`, decoding at most `max` bytes.
pub fn transcode(
    body: &[u8],
    from: Coding,
    to: Coding,
    levels: Levels,
    max: u64,
) -> Result<Vec<u8>, TranscodeError> {
    if from == to {
        return Ok(body.to_vec());
    }
    match from {
        Coding::Identity => Ok(encode(body, to, levels)?),
        _ => {
            let plain = decode(body, from, max)?;
            match to {
                Coding::Identity => Ok(plain),
                _ => Ok(encode(&plain, to, levels)?),
            }
        }
    }
}

/// `plain` compressed into `to` (identity: a copy).
pub fn encode(plain: &[u8], to: Coding, levels: Levels) -> std::io::Result<Vec<u8>> {
    match to {
        Coding::Identity => Ok(plain.to_vec()),
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(plain.len() / 3),
                flate2::Compression::new(levels.gzip),
            );
            e.write_all(plain)?;
            e.finish()
        }
        Coding::Br => {
            let mut out = Vec::with_capacity(plain.len() / 3);
            {
                let mut w = brotli::CompressorWriter::new(&mut out, BUF, levels.br, BR_LGWIN);
                w.write_all(plain)?;
                w.flush()?;
            }
            Ok(out)
        }
        Coding::Zstd => zstd::bulk::compress(plain, levels.zstd),
    }
}

/// `encoded` (in coding `from`) decoded, refusing more than `max` bytes.
pub fn decode(encoded: &[u8], from: Coding, max: u64) -> Result<Vec<u8>, TranscodeError> {
    let reader: Box<dyn Read + '_> = match from {
        Coding::Identity => return Ok(encoded.to_vec()),
        Coding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(encoded)),
        Coding::Br => Box::new(brotli::Decompressor::new(encoded, BUF)),
        Coding::Zstd => Box::new(zstd::stream::read::Decoder::new(encoded)?),
    };
    let mut out = Vec::new();
    reader.take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(TranscodeError::TooLarge(max));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: Levels = Levels {
        gzip: 6,
        br: 5,
        zstd: 3,
    };

    #[test]
    fn every_coding_round_trips_and_shrinks_text() {
        let plain = "edgecache stores one copy. ".repeat(400).into_bytes();
        for c in [Coding::Gzip, Coding::Br, Coding::Zstd] {
            let enc = encode(&plain, c, LEVELS).expect("encodes");
            assert!(enc.len() < plain.len() / 10, "{c:?}: {}", enc.len());
            let dec = decode(&enc, c, 1 << 20).expect("decodes");
            assert_eq!(dec, plain, "{c:?}");
            // And from one coding straight into another.
            let other = transcode(&enc, c, Coding::Gzip, LEVELS, 1 << 20).expect("transcodes");
            assert_eq!(decode(&other, Coding::Gzip, 1 << 20).expect("gzip"), plain);
        }
    }

    /// A zip bomb: decoding stops at the cap instead of filling memory.
    #[test]
    fn decoding_past_the_cap_is_refused() {
        let bomb = encode(&vec![0u8; 8 << 20], Coding::Gzip, LEVELS).expect("encodes");
        assert!(bomb.len() < 64 << 10);
        for c in [Coding::Gzip, Coding::Br, Coding::Zstd] {
            let bomb = encode(&vec![0u8; 8 << 20], c, LEVELS).expect("encodes");
            match decode(&bomb, c, 1 << 20) {
                Err(TranscodeError::TooLarge(n)) => assert_eq!(n, 1 << 20),
                other => panic!("{c:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn corrupt_input_is_an_error() {
        for c in [Coding::Gzip, Coding::Br, Coding::Zstd] {
            assert!(
                decode(b"not compressed at all", c, 1 << 20).is_err(),
                "{c:?}"
            );
        }
    }
}
