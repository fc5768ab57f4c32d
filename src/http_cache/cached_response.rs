//! What the cache stores about a response besides its body, and its
//! versioned binary encoding (the store treats it as an opaque blob).
//!
//! Meta format version 1 (integers little-endian):
//! ```text
//! u8 version = 1, u8 kind
//! kind 1 (response): u16 status, u64 request_time_ms, u64 response_time_ms,
//!     u64 initial_age, u32 header count, { u16 name len, name, u32 value len, value }*,
//!     u32 variant count, { u16 name len, name, u8 present, u32 value len, value }*
//! kind 2 (vary index): u32 count, { u16 name len, name }*
//! ```
//! Meta format version 2 appends to kind 1:
//! ```text
//!     u64 purge_seq, u32 key count, { u16 len, surrogate key }*
//! ```
//! Kind 3 (vary index with its variants, written by later builds of
//! version 2; kind 2 still decodes, with no variants listed):
//! ```text
//! u32 count, { u16 name len, name }*, u32 count, { 32-byte variant key }*
//! ```

use super::age;
use super::cache_control::CacheControl;
use super::policy::Policy;
use super::targeted::targeted;
pub use super::vary_index::VaryIndex;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use std::time::{Duration, SystemTime};

/// The meta format this build writes. Version 1 lacks the purge fields.
const VERSION: u8 = 2;

/// A stored response's status, headers and timing.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedResponse {
    /// The response status.
    pub status: StatusCode,
    /// The stored header fields (hop-by-hop fields already removed).
    pub headers: HeaderMap,
    /// When the request that produced it was sent (§4.2.3 `request_time`).
    pub request_time: SystemTime,
    /// When the response was received (§4.2.3 `response_time`).
    pub response_time: SystemTime,
    /// `corrected_initial_age` in seconds (§4.2.3).
    pub initial_age: u64,
    /// The request's values of the fields named by Vary, as normalised by
    /// [`super::vary`]; empty when the response has no Vary.
    pub variant: Vec<(String, Option<String>)>,
    /// The purge sequence number current when the request that produced
    /// this response was sent; later purges cover it.
    pub purge_seq: u64,
    /// Surrogate keys the origin tagged the response with.
    pub surrogate_keys: Vec<String>,
}

/// The two kinds of metadata stored under a key.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredMeta {
    /// A full response.
    Response(CachedResponse),
    /// Under a primary key: the response varies on these (lower-case) fields;
    /// each variant is stored under its variant key, listed here.
    VaryIndex(VaryIndex),
}

/// The cache-control in force for this cache (RFC 9213 targeted field or Cache-Control).
#[derive(Clone, Debug)]
pub struct Effective {
    /// The parsed directives.
    pub cc: CacheControl,
    /// True when they came from a targeted field, so Expires is ignored.
    pub targeted: bool,
}

/// Cache-control in force for this cache, given a response's headers.
pub fn effective_cache_control(headers: &HeaderMap, policy: &Policy) -> Effective {
    match targeted(headers, &policy.targeted_fields, &policy.surrogate_device) {
        Some(cc) => Effective { cc, targeted: true },
        None => Effective {
            cc: CacheControl::from_headers(headers, http::header::CACHE_CONTROL),
            targeted: false,
        },
    }
}

/// Parse an HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, RFC 850 or asctime).
pub fn http_date(v: &HeaderValue) -> Option<SystemTime> {
    super::http_date::parse(v.to_str().ok()?.trim())
}

impl CachedResponse {
    /// The Date header, when valid.
    pub fn date(&self) -> Option<SystemTime> {
        self.headers.get(http::header::DATE).and_then(http_date)
    }

    /// `current_age` (§4.2.3) at `now`.
    pub fn current_age(&self, now: SystemTime) -> u64 {
        age::current_age(self.initial_age, self.response_time, now)
    }

    /// The cache-control in force for this cache.
    pub fn effective(&self, policy: &Policy) -> Effective {
        effective_cache_control(&self.headers, policy)
    }
}

/// Why stored metadata could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("stored metadata: {0}")]
pub struct MetaDecodeError(&'static str);

fn ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn from_ms(v: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(v)
}

impl StoredMeta {
    /// Encode in the current meta format.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        match self {
            StoredMeta::Response(r) => {
                out.push(1);
                out.extend_from_slice(&r.status.as_u16().to_le_bytes());
                out.extend_from_slice(&ms(r.request_time).to_le_bytes());
                out.extend_from_slice(&ms(r.response_time).to_le_bytes());
                out.extend_from_slice(&r.initial_age.to_le_bytes());
                out.extend_from_slice(&(r.headers.len() as u32).to_le_bytes());
                for (n, v) in &r.headers {
                    put_name(&mut out, n.as_str());
                    put_value(&mut out, v.as_bytes());
                }
                out.extend_from_slice(&(r.variant.len() as u32).to_le_bytes());
                for (n, v) in &r.variant {
                    put_name(&mut out, n);
                    out.push(u8::from(v.is_some()));
                    put_value(&mut out, v.as_deref().unwrap_or("").as_bytes());
                }
                out.extend_from_slice(&r.purge_seq.to_le_bytes());
                out.extend_from_slice(&(r.surrogate_keys.len() as u32).to_le_bytes());
                for k in &r.surrogate_keys {
                    put_name(&mut out, k);
                }
            }
            StoredMeta::VaryIndex(idx) => {
                out.push(3);
                out.extend_from_slice(&(idx.names.len() as u32).to_le_bytes());
                for n in &idx.names {
                    put_name(&mut out, n);
                }
                out.extend_from_slice(&(idx.variants.len() as u32).to_le_bytes());
                for k in &idx.variants {
                    out.extend_from_slice(&k.0);
                }
            }
        }
        out
    }

    /// Decode any supported meta format version.
    pub fn decode(buf: &[u8]) -> Result<StoredMeta, MetaDecodeError> {
        Self::decode_from(buf, None)
    }

    /// [`StoredMeta::decode`], with header values that share `buf`'s memory
    /// instead of each getting its own allocation (the hit path's form).
    pub fn decode_shared(buf: &bytes::Bytes) -> Result<StoredMeta, MetaDecodeError> {
        Self::decode_from(buf, Some(buf))
    }

    fn decode_from(
        buf: &[u8],
        shared: Option<&bytes::Bytes>,
    ) -> Result<StoredMeta, MetaDecodeError> {
        let mut r = Reader { buf };
        let version = r.u8()?;
        if !(1..=VERSION).contains(&version) {
            return Err(MetaDecodeError("unknown meta version"));
        }
        match r.u8()? {
            1 => {
                let status = StatusCode::from_u16(r.u16()?)
                    .map_err(|_| MetaDecodeError("invalid status"))?;
                let request_time = from_ms(r.u64()?);
                let response_time = from_ms(r.u64()?);
                let initial_age = r.u64()?;
                let n = r.u32()?;
                let mut headers = HeaderMap::with_capacity((n as usize).min(64));
                for _ in 0..n {
                    let name = HeaderName::from_bytes(r.name()?)
                        .map_err(|_| MetaDecodeError("bad header name"))?;
                    let raw = r.value()?;
                    let value = match shared {
                        Some(b) => HeaderValue::from_maybe_shared(b.slice_ref(raw)),
                        None => HeaderValue::from_bytes(raw),
                    }
                    .map_err(|_| MetaDecodeError("bad header value"))?;
                    headers.append(name, value);
                }
                let n = r.u32()?;
                let mut variant = Vec::new();
                for _ in 0..n {
                    let name = String::from_utf8(r.name()?.to_vec())
                        .map_err(|_| MetaDecodeError("bad name"))?;
                    let present = r.u8()? == 1;
                    let value = String::from_utf8(r.value()?.to_vec())
                        .map_err(|_| MetaDecodeError("bad value"))?;
                    variant.push((name, present.then_some(value)));
                }
                let (mut purge_seq, mut surrogate_keys) = (0, Vec::new());
                if version >= 2 {
                    purge_seq = r.u64()?;
                    for _ in 0..r.u32()? {
                        surrogate_keys.push(
                            String::from_utf8(r.name()?.to_vec())
                                .map_err(|_| MetaDecodeError("bad key"))?,
                        );
                    }
                }
                Ok(StoredMeta::Response(CachedResponse {
                    status,
                    headers,
                    request_time,
                    response_time,
                    initial_age,
                    variant,
                    purge_seq,
                    surrogate_keys,
                }))
            }
            kind @ (2 | 3) => {
                let mut idx = VaryIndex::default();
                for _ in 0..r.u32()? {
                    idx.names.push(
                        String::from_utf8(r.name()?.to_vec())
                            .map_err(|_| MetaDecodeError("bad name"))?,
                    );
                }
                if kind == 3 {
                    for _ in 0..r.u32()? {
                        let k = r.take(32)?.try_into();
                        idx.variants.push(storage::ObjectKey(
                            k.map_err(|_| MetaDecodeError("truncated"))?,
                        ));
                    }
                }
                Ok(StoredMeta::VaryIndex(idx))
            }
            _ => Err(MetaDecodeError("unknown meta kind")),
        }
    }
}

fn put_name(out: &mut Vec<u8>, n: &str) {
    out.extend_from_slice(&(n.len() as u16).to_le_bytes());
    out.extend_from_slice(n.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    out.extend_from_slice(v);
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MetaDecodeError> {
        if self.buf.len() < n {
            return Err(MetaDecodeError("truncated"));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, MetaDecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, MetaDecodeError> {
        Ok(u16::from_le_bytes(
            self.take(2)?
                .try_into()
                .map_err(|_| MetaDecodeError("truncated"))?,
        ))
    }
    fn u32(&mut self) -> Result<u32, MetaDecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4)?
                .try_into()
                .map_err(|_| MetaDecodeError("truncated"))?,
        ))
    }
    fn u64(&mut self) -> Result<u64, MetaDecodeError> {
        Ok(u64::from_le_bytes(
            self.take(8)?
                .try_into()
                .map_err(|_| MetaDecodeError("truncated"))?,
        ))
    }
    fn name(&mut self) -> Result<&'a [u8], MetaDecodeError> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    fn value(&mut self) -> Result<&'a [u8], MetaDecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredMeta {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        StoredMeta::Response(CachedResponse {
            status: StatusCode::OK,
            headers,
            request_time: from_ms(1_700_000_000_000),
            response_time: from_ms(1_700_000_000_250),
            initial_age: 7,
            variant: vec![
                ("accept-encoding".into(), Some("gzip".into())),
                ("x-absent".into(), None),
            ],
            purge_seq: 42,
            surrogate_keys: vec!["product-1".into(), "all".into()],
        })
    }

    #[test]
    fn round_trips_both_kinds() {
        for m in [
            sample(),
            StoredMeta::VaryIndex(VaryIndex {
                names: vec!["accept".into(), "x-b".into()],
                variants: vec![storage::ObjectKey([3; 32])],
            }),
        ] {
            assert_eq!(StoredMeta::decode(&m.encode()), Ok(m));
        }
    }

    /// Meta version 1 as written by the first release: later builds must
    /// decode it (purge fields default to "never purged, no keys").
    #[test]
    fn decodes_meta_v1_fixtures() {
        let vary_index: &[u8] = &[1, 2, 1, 0, 0, 0, 3, 0, b'f', b'o', b'o'];
        assert_eq!(
            StoredMeta::decode(vary_index),
            Ok(StoredMeta::VaryIndex(VaryIndex {
                names: vec!["foo".into()],
                variants: vec![],
            }))
        );
        let mut response = vec![1u8, 1, 200, 0];
        response.extend_from_slice(&1_000u64.to_le_bytes());
        response.extend_from_slice(&2_000u64.to_le_bytes());
        response.extend_from_slice(&5u64.to_le_bytes());
        response.extend_from_slice(&1u32.to_le_bytes());
        response.extend_from_slice(&[1, 0, b'a', 1, 0, 0, 0, b'b']);
        response.extend_from_slice(&0u32.to_le_bytes());
        let Ok(StoredMeta::Response(r)) = StoredMeta::decode(&response) else {
            panic!("v1 response decodes")
        };
        assert_eq!((r.status.as_u16(), r.initial_age, r.purge_seq), (200, 5, 0));
        assert_eq!(r.headers.get("a").map(|v| v.as_bytes()), Some(&b"b"[..]));
        assert!(r.surrogate_keys.is_empty());
    }

    /// Meta version 2 adds the purge sequence and surrogate keys.
    #[test]
    fn writes_meta_v2() {
        let enc = sample().encode();
        assert_eq!(&enc[..4], &[2, 1, 200, 0]);
    }

    #[test]
    fn damaged_meta_is_an_error() {
        let enc = sample().encode();
        for cut in [0, 1, 5, enc.len() - 1] {
            assert!(StoredMeta::decode(&enc[..cut]).is_err(), "cut at {cut}");
        }
        assert!(StoredMeta::decode(&[9, 1]).is_err());
        assert!(StoredMeta::decode(&[1, 9]).is_err());
    }
}
