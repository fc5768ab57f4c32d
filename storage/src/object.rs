//! A stored object and its versioned, checksummed binary encoding.
//!
//! Format version 1 (all integers little-endian):
//! ```text
//! magic   4 bytes  "ECO\x01"   (the last byte is the format version)
//! meta    u32 length, then the bytes
//! body    u64 length, then the bytes
//! sum     32 bytes  blake3(meta_len || meta || body_len || body)
//! ```
//! A value whose magic, lengths or checksum do not match decodes to an error,
//! which the store reports as a miss.

use bytes::Bytes;
use foyer::Code;
use std::io::{Read, Write};

/// The encoding version written by this build.
pub const FORMAT_VERSION: u8 = 1;
const MAGIC_PREFIX: [u8; 3] = *b"ECO";
/// Upper bound on the metadata blob, so a corrupt length cannot make us allocate gigabytes.
const MAX_META: u32 = 1 << 20;
/// Upper bound on one object's body as stored in one entry.
const MAX_BODY: u64 = 1 << 32;

/// One stored object: caller-defined metadata plus a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    /// Opaque metadata, encoded and versioned by the caller.
    pub meta: Bytes,
    /// The body bytes.
    pub body: Bytes,
}

/// Why a stored value could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The value does not start with a known magic and version.
    #[error("unknown magic or format version")]
    BadMagic,
    /// A length field is larger than the format allows.
    #[error("length field out of range")]
    BadLength,
    /// The value ended before its declared length.
    #[error("truncated value")]
    Truncated,
    /// The blake3 checksum does not match the content.
    #[error("checksum mismatch")]
    ChecksumMismatch,
}

impl StoredObject {
    /// Create an object from its parts.
    pub fn new(meta: Bytes, body: Bytes) -> Self {
        StoredObject { meta, body }
    }

    /// Bytes this object occupies, used by the memory tier's weighter.
    pub fn weight(&self) -> usize {
        self.meta.len() + self.body.len() + 64
    }

    fn checksum(&self) -> blake3::Hash {
        let mut h = blake3::Hasher::new();
        h.update(&(self.meta.len() as u32).to_le_bytes());
        h.update(&self.meta);
        h.update(&(self.body.len() as u64).to_le_bytes());
        h.update(&self.body);
        h.finalize()
    }

    /// Encode in the current format version.
    pub fn encode_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(&MAGIC_PREFIX)?;
        w.write_all(&[FORMAT_VERSION])?;
        w.write_all(&(self.meta.len() as u32).to_le_bytes())?;
        w.write_all(&self.meta)?;
        w.write_all(&(self.body.len() as u64).to_le_bytes())?;
        w.write_all(&self.body)?;
        w.write_all(self.checksum().as_bytes())
    }

    /// Decode any supported format version, verifying the checksum.
    pub fn decode_from(r: &mut impl Read) -> Result<Self, DecodeError> {
        let mut magic = [0u8; 4];
        read_exact(r, &mut magic)?;
        if magic[..3] != MAGIC_PREFIX {
            return Err(DecodeError::BadMagic);
        }
        match magic[3] {
            1 => Self::decode_v1(r),
            _ => Err(DecodeError::BadMagic),
        }
    }

    fn decode_v1(r: &mut impl Read) -> Result<Self, DecodeError> {
        let mut n4 = [0u8; 4];
        read_exact(r, &mut n4)?;
        let meta_len = u32::from_le_bytes(n4);
        if meta_len > MAX_META {
            return Err(DecodeError::BadLength);
        }
        let mut meta = vec![0u8; meta_len as usize];
        read_exact(r, &mut meta)?;
        let mut n8 = [0u8; 8];
        read_exact(r, &mut n8)?;
        let body_len = u64::from_le_bytes(n8);
        if body_len > MAX_BODY {
            return Err(DecodeError::BadLength);
        }
        let body_len = usize::try_from(body_len).map_err(|_| DecodeError::BadLength)?;
        let mut body = vec![0u8; body_len];
        read_exact(r, &mut body)?;
        let mut sum = [0u8; 32];
        read_exact(r, &mut sum)?;
        let obj = StoredObject {
            meta: meta.into(),
            body: body.into(),
        };
        if obj.checksum().as_bytes() != &sum {
            return Err(DecodeError::ChecksumMismatch);
        }
        Ok(obj)
    }

    /// Size of the encoded value in bytes.
    pub fn encoded_len(&self) -> usize {
        4 + 4 + self.meta.len() + 8 + self.body.len() + 32
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), DecodeError> {
    r.read_exact(buf).map_err(|_| DecodeError::Truncated)
}

impl Code for StoredObject {
    fn encode(&self, writer: &mut impl Write) -> foyer::Result<()> {
        self.encode_to(writer).map_err(foyer::Error::io_error)
    }

    fn decode(reader: &mut impl Read) -> foyer::Result<Self> {
        // `External`, not `ChecksumMismatch`: foyer turns its own kinds into a
        // silent miss, and the store wants to count and remove damaged entries.
        StoredObject::decode_from(reader).map_err(|e| {
            foyer::Error::new(foyer::ErrorKind::External, format!("edgecache object: {e}"))
        })
    }

    fn estimated_size(&self) -> usize {
        self.encoded_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredObject {
        StoredObject::new(
            Bytes::from_static(b"meta"),
            Bytes::from_static(b"hello body"),
        )
    }

    fn encoded(o: &StoredObject) -> Vec<u8> {
        let mut v = Vec::new();
        o.encode_to(&mut v).expect("encode to vec");
        v
    }

    #[test]
    fn round_trip() {
        let o = sample();
        let v = encoded(&o);
        assert_eq!(v.len(), o.encoded_len());
        assert_eq!(StoredObject::decode_from(&mut &v[..]), Ok(o));
    }

    /// A version-1 value written by hand, byte for byte: every later build must
    /// still decode it.
    #[test]
    fn decodes_format_v1_fixture() {
        let mut v = b"ECO\x01".to_vec();
        v.extend_from_slice(&4u32.to_le_bytes());
        v.extend_from_slice(b"meta");
        v.extend_from_slice(&10u64.to_le_bytes());
        v.extend_from_slice(b"hello body");
        let mut h = blake3::Hasher::new();
        h.update(&4u32.to_le_bytes());
        h.update(b"meta");
        h.update(&10u64.to_le_bytes());
        h.update(b"hello body");
        v.extend_from_slice(h.finalize().as_bytes());
        assert_eq!(v, encoded(&sample()));
        assert_eq!(StoredObject::decode_from(&mut &v[..]), Ok(sample()));
    }

    #[test]
    fn damaged_values_are_errors_never_wrong_bytes() {
        let good = encoded(&sample());
        let cases: Vec<(&str, Vec<u8>, DecodeError)> = vec![
            (
                "flipped body bit",
                {
                    let mut v = good.clone();
                    v[20] ^= 1;
                    v
                },
                DecodeError::ChecksumMismatch,
            ),
            (
                "flipped checksum",
                {
                    let mut v = good.clone();
                    let n = v.len();
                    v[n - 1] ^= 0x80;
                    v
                },
                DecodeError::ChecksumMismatch,
            ),
            (
                "truncated",
                good[..good.len() - 5].to_vec(),
                DecodeError::Truncated,
            ),
            (
                "unknown version",
                {
                    let mut v = good.clone();
                    v[3] = 99;
                    v
                },
                DecodeError::BadMagic,
            ),
            (
                "huge meta length",
                {
                    let mut v = good.clone();
                    v[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
                    v
                },
                DecodeError::BadLength,
            ),
            ("empty", Vec::new(), DecodeError::Truncated),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(
                StoredObject::decode_from(&mut &bytes[..]),
                Err(want),
                "{name}"
            );
        }
    }
}
