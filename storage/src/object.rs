//! A stored object and its versioned, checksummed binary encoding.
//!
//! Format version 2 (written by this build; all integers little-endian):
//! ```text
//! magic    4 bytes  "ECO\x02"   (the last byte is the format version)
//! layout   u8       0 = inline body, 1 = chunk manifest
//! meta     u32 length, then the bytes
//! inline:  body u64 length, then the bytes
//! chunked: fill id 16 bytes, chunk size u32, body length u64,
//!          chunk count u32, then one 32-byte blake3 sum per chunk
//! sum      32 bytes  blake3 of every byte between the magic and the sum
//! ```
//! Format version 1 (still decoded): magic "ECO\x01", meta (u32 length +
//! bytes), body (u64 length + bytes), then blake3(meta_len || meta ||
//! body_len || body). It has no layout byte: every v1 object is inline.
//!
//! A value whose magic, lengths or checksum do not match decodes to an error,
//! which the store reports as a miss.

use crate::manifest::Manifest;
use bytes::Bytes;
use foyer::Code;
use std::any::Any;
use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

/// The encoding version written by this build.
pub const FORMAT_VERSION: u8 = 2;
const MAGIC_PREFIX: [u8; 3] = *b"ECO";
/// Upper bound on the metadata blob, so a corrupt length cannot make us allocate gigabytes.
const MAX_META: u32 = 1 << 20;
/// Upper bound on one object's body as stored in one entry.
const MAX_BODY: u64 = 1 << 32;
/// Upper bound on a manifest's chunk count (1 TiB of 64 KiB chunks would be 16M).
const MAX_CHUNKS: u32 = 1 << 24;
/// Most bytes reserved up front for a field the value declares the length
/// of: a longer field grows as its bytes actually arrive, so a damaged length
/// (the body's may claim up to 4 GiB) costs no more memory than the value
/// really holds. 2 MiB takes every inline body of the default 1 MiB chunk
/// size in one allocation.
const PREALLOC_MAX: usize = 2 << 20;
const LAYOUT_INLINE: u8 = 0;
const LAYOUT_CHUNKED: u8 = 1;

/// Where an object's body bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// In the entry itself.
    Inline(Bytes),
    /// In separate chunk entries, read with [`crate::Store::read_chunk`].
    Chunked(Arc<Manifest>),
}

impl Payload {
    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Payload::Inline(b) => b.len() as u64,
            Payload::Chunked(m) => m.len,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One stored object: caller-defined metadata plus a body.
#[derive(Clone, Debug)]
pub struct StoredObject {
    /// Opaque metadata, encoded and versioned by the caller.
    pub meta: Bytes,
    /// The body, inline or as a chunk manifest.
    pub body: Payload,
    /// The caller's decoded form of `meta`, if it has made one (never stored).
    pub attachment: Attachment,
}

impl PartialEq for StoredObject {
    fn eq(&self, other: &Self) -> bool {
        self.meta == other.meta && self.body == other.body
    }
}

impl Eq for StoredObject {}

/// Fixed part of the memory a caller's decoded form of an object may take
/// (see [`StoredObject::weight`]); the node's attachment (reuse facts)
/// measured about 380 bytes for a response with 300 bytes of meta.
pub const ATTACHMENT_ALLOWANCE: usize = 256;

fn attachment_allowance(meta_len: usize) -> usize {
    if meta_len == 0 {
        0
    } else {
        ATTACHMENT_ALLOWANCE + meta_len
    }
}

/// A slot for the caller's decoded form of an object's metadata. Every clone
/// of an object read from the memory tier shares it, so the caller decodes
/// (and prepares) a stored object once rather than on every hit. The store
/// never reads or writes it, and it is never encoded.
#[derive(Clone, Default)]
pub struct Attachment(Arc<OnceLock<Arc<dyn Any + Send + Sync>>>);

impl Attachment {
    /// The attached value, if one of type `T` was set.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.get()?.clone().downcast::<T>().ok()
    }

    /// Attach `value` unless something is attached already.
    pub fn set<T: Any + Send + Sync>(&self, value: Arc<T>) {
        let _ = self.0.set(value);
    }
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Attachment(set)"
        } else {
            "Attachment(empty)"
        })
    }
}

/// Why a stored value could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The value does not start with a known magic and version.
    #[error("unknown magic or format version")]
    BadMagic,
    /// A length field is larger than the format allows, or a layout is unknown.
    #[error("length field out of range")]
    BadLength,
    /// The value ended before its declared length.
    #[error("truncated value")]
    Truncated,
    /// The blake3 checksum does not match the content.
    #[error("checksum mismatch")]
    ChecksumMismatch,
}

/// A writer that hashes what passes through it.
struct Hashing<'a, W> {
    inner: &'a mut W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what passes through it.
struct HashingReader<'a, R> {
    inner: &'a mut R,
    hasher: blake3::Hasher,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl StoredObject {
    /// An object with an inline body.
    pub fn new(meta: Bytes, body: Bytes) -> Self {
        StoredObject {
            meta,
            body: Payload::Inline(body),
            attachment: Attachment::default(),
        }
    }

    /// An object with a body of either kind.
    pub fn with_payload(meta: Bytes, body: Payload) -> Self {
        StoredObject {
            meta,
            body,
            attachment: Attachment::default(),
        }
    }

    /// An object whose body lives in chunks described by `manifest`.
    pub fn chunked(meta: Bytes, manifest: Manifest) -> Self {
        StoredObject {
            meta,
            body: Payload::Chunked(Arc::new(manifest)),
            attachment: Attachment::default(),
        }
    }

    /// The inline body, if the body is inline.
    pub fn inline_body(&self) -> Option<&Bytes> {
        match &self.body {
            Payload::Inline(b) => Some(b),
            Payload::Chunked(_) => None,
        }
    }

    /// Bytes this object occupies, used by the memory tier's weighter: its
    /// encoding plus [`ATTACHMENT_ALLOWANCE`] for the decoded form a caller
    /// may attach, so that the memory budget bounds RSS with it.
    pub fn weight(&self) -> usize {
        self.encoded_len() + 32 + attachment_allowance(self.meta.len())
    }

    /// Encode in the current format version.
    pub fn encode_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(&MAGIC_PREFIX)?;
        w.write_all(&[FORMAT_VERSION])?;
        let mut h = Hashing {
            inner: w,
            hasher: blake3::Hasher::new(),
        };
        match &self.body {
            Payload::Inline(body) => {
                h.write_all(&[LAYOUT_INLINE])?;
                h.write_all(&(self.meta.len() as u32).to_le_bytes())?;
                h.write_all(&self.meta)?;
                h.write_all(&(body.len() as u64).to_le_bytes())?;
                h.write_all(body)?;
            }
            Payload::Chunked(m) => {
                h.write_all(&[LAYOUT_CHUNKED])?;
                h.write_all(&(self.meta.len() as u32).to_le_bytes())?;
                h.write_all(&self.meta)?;
                h.write_all(&m.fill_id)?;
                h.write_all(&m.chunk_bytes.to_le_bytes())?;
                h.write_all(&m.len.to_le_bytes())?;
                h.write_all(&(m.sums.len() as u32).to_le_bytes())?;
                for s in &m.sums {
                    h.write_all(s)?;
                }
            }
        }
        let sum = h.hasher.finalize();
        w.write_all(sum.as_bytes())
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
            2 => Self::decode_v2(r),
            _ => Err(DecodeError::BadMagic),
        }
    }

    fn decode_v1(r: &mut impl Read) -> Result<Self, DecodeError> {
        let mut h = HashingReader {
            inner: r,
            hasher: blake3::Hasher::new(),
        };
        let meta = read_meta(&mut h)?;
        let body = read_body(&mut h)?;
        let want = h.hasher.finalize();
        check_sum(r, want)?;
        Ok(StoredObject::new(meta, body))
    }

    fn decode_v2(r: &mut impl Read) -> Result<Self, DecodeError> {
        let mut h = HashingReader {
            inner: r,
            hasher: blake3::Hasher::new(),
        };
        let mut layout = [0u8; 1];
        read_exact(&mut h, &mut layout)?;
        let meta = read_meta(&mut h)?;
        let obj = match layout[0] {
            LAYOUT_INLINE => StoredObject::new(meta, read_body(&mut h)?),
            LAYOUT_CHUNKED => {
                let mut fill_id = [0u8; 16];
                read_exact(&mut h, &mut fill_id)?;
                let chunk_bytes = u32::from_le_bytes(read_array(&mut h)?);
                let len = u64::from_le_bytes(read_array(&mut h)?);
                let count = u32::from_le_bytes(read_array(&mut h)?);
                if count > MAX_CHUNKS || chunk_bytes == 0 {
                    return Err(DecodeError::BadLength);
                }
                let mut sums = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    sums.push(read_array::<32>(&mut h)?);
                }
                let manifest = Manifest {
                    fill_id,
                    chunk_bytes,
                    len,
                    sums,
                };
                if !manifest.is_consistent() {
                    return Err(DecodeError::BadLength);
                }
                StoredObject::chunked(meta, manifest)
            }
            _ => return Err(DecodeError::BadLength),
        };
        let want = h.hasher.finalize();
        check_sum(r, want)?;
        Ok(obj)
    }

    /// Size of the encoded value in bytes.
    pub fn encoded_len(&self) -> usize {
        let body = match &self.body {
            Payload::Inline(b) => 8 + b.len(),
            Payload::Chunked(m) => 16 + 4 + 8 + 4 + 32 * m.sums.len(),
        };
        4 + 1 + 4 + self.meta.len() + body + 32
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), DecodeError> {
    r.read_exact(buf).map_err(|_| DecodeError::Truncated)
}

fn read_array<const N: usize>(r: &mut impl Read) -> Result<[u8; N], DecodeError> {
    let mut a = [0u8; N];
    read_exact(r, &mut a)?;
    Ok(a)
}

fn read_meta(r: &mut impl Read) -> Result<Bytes, DecodeError> {
    let meta_len = u32::from_le_bytes(read_array(r)?);
    if meta_len > MAX_META {
        return Err(DecodeError::BadLength);
    }
    Ok(read_vec(r, meta_len as usize)?.into())
}

fn read_body(r: &mut impl Read) -> Result<Bytes, DecodeError> {
    let body_len = u64::from_le_bytes(read_array(r)?);
    if body_len > MAX_BODY {
        return Err(DecodeError::BadLength);
    }
    let body_len = usize::try_from(body_len).map_err(|_| DecodeError::BadLength)?;
    Ok(read_vec(r, body_len)?.into())
}

/// Read exactly `len` bytes, reserving at most [`PREALLOC_MAX`] before they arrive.
fn read_vec(r: &mut impl Read, len: usize) -> Result<Vec<u8>, DecodeError> {
    let mut buf = Vec::with_capacity(len.min(PREALLOC_MAX));
    r.by_ref()
        .take(len as u64)
        .read_to_end(&mut buf)
        .map_err(|_| DecodeError::Truncated)?;
    if buf.len() != len {
        return Err(DecodeError::Truncated);
    }
    Ok(buf)
}

fn check_sum(r: &mut impl Read, want: blake3::Hash) -> Result<(), DecodeError> {
    let sum: [u8; 32] = read_array(r)?;
    // blake3::Hash compares in constant time; equality is all that matters here.
    if want != blake3::Hash::from(sum) {
        return Err(DecodeError::ChecksumMismatch);
    }
    Ok(())
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
        assert_eq!(StoredObject::decode_from(&mut &v[..]), Ok(sample()));
    }

    /// Version-2 values written by hand, inline and chunked: every later
    /// build must still decode them.
    #[test]
    fn decodes_format_v2_fixtures() {
        let mut payload = vec![0u8]; // inline
        payload.extend_from_slice(&4u32.to_le_bytes());
        payload.extend_from_slice(b"meta");
        payload.extend_from_slice(&10u64.to_le_bytes());
        payload.extend_from_slice(b"hello body");
        let mut v = b"ECO\x02".to_vec();
        v.extend_from_slice(&payload);
        v.extend_from_slice(blake3::hash(&payload).as_bytes());
        assert_eq!(v, encoded(&sample()), "this build writes version 2");
        assert_eq!(StoredObject::decode_from(&mut &v[..]), Ok(sample()));

        let mut payload = vec![1u8]; // chunk manifest
        payload.extend_from_slice(&4u32.to_le_bytes());
        payload.extend_from_slice(b"meta");
        payload.extend_from_slice(&[7u8; 16]);
        payload.extend_from_slice(&65536u32.to_le_bytes());
        payload.extend_from_slice(&100_000u64.to_le_bytes());
        payload.extend_from_slice(&2u32.to_le_bytes());
        payload.extend_from_slice(&[1u8; 32]);
        payload.extend_from_slice(&[2u8; 32]);
        let mut v = b"ECO\x02".to_vec();
        v.extend_from_slice(&payload);
        v.extend_from_slice(blake3::hash(&payload).as_bytes());
        let want = StoredObject::chunked(
            Bytes::from_static(b"meta"),
            Manifest {
                fill_id: [7u8; 16],
                chunk_bytes: 65536,
                len: 100_000,
                sums: vec![[1u8; 32], [2u8; 32]],
            },
        );
        assert_eq!(v, encoded(&want));
        assert_eq!(v.len(), want.encoded_len());
        assert_eq!(StoredObject::decode_from(&mut &v[..]), Ok(want));
    }

    /// Reads from a slice, remembering the largest buffer it was asked to fill.
    struct WidestRead<'a> {
        inner: &'a [u8],
        widest: usize,
    }

    impl Read for WidestRead<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.widest = self.widest.max(buf.len());
            self.inner.read(buf)
        }
    }

    /// Found by the `stored_object` fuzz target: 27 bytes whose body length
    /// claimed 4 GiB made the decoder allocate (and ask its reader to fill)
    /// 4 GiB before finding the value truncated.
    #[test]
    fn a_damaged_length_reserves_no_more_than_the_value_holds() {
        let mut v1 = b"ECO\x01".to_vec();
        v1.extend_from_slice(&0u32.to_le_bytes());
        v1.extend_from_slice(&(1u64 << 32).to_le_bytes());
        v1.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]);
        let mut v2 = b"ECO\x02\x00".to_vec();
        v2.extend_from_slice(&(1u32 << 20).to_le_bytes());
        v2.extend_from_slice(&[0; 40]);
        let mut v2_body = b"ECO\x02\x00".to_vec();
        v2_body.extend_from_slice(&0u32.to_le_bytes());
        v2_body.extend_from_slice(&MAX_BODY.to_le_bytes());
        for (name, value) in [("v1 body", v1), ("v2 meta", v2), ("v2 body", v2_body)] {
            let mut r = WidestRead {
                inner: &value,
                widest: 0,
            };
            assert_eq!(
                StoredObject::decode_from(&mut r),
                Err(DecodeError::Truncated),
                "{name}"
            );
            assert!(
                r.widest <= PREALLOC_MAX,
                "{name}: asked to fill {} bytes for a {}-byte value",
                r.widest,
                value.len()
            );
        }
    }

    #[test]
    fn manifests_must_match_their_length() {
        // 100,000 bytes in 64 KiB chunks is two chunks, not three.
        let bad = StoredObject::chunked(
            Bytes::new(),
            Manifest {
                fill_id: [0; 16],
                chunk_bytes: 65536,
                len: 100_000,
                sums: vec![[0; 32]; 3],
            },
        );
        assert_eq!(
            StoredObject::decode_from(&mut &encoded(&bad)[..]),
            Err(DecodeError::BadLength)
        );
    }

    #[test]
    fn damaged_values_are_errors_never_wrong_bytes() {
        let good = encoded(&sample());
        let cases: Vec<(&str, Vec<u8>, DecodeError)> = vec![
            (
                "flipped body bit",
                {
                    let mut v = good.clone();
                    v[24] ^= 1;
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
                    v[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
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
