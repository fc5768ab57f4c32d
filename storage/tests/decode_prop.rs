//! Property tests for the stored-object decoder: whatever bytes come back
//! from disk decode to an error or to exactly the object that was written,
//! never to a panic and never to other bytes.

use bytes::Bytes;
use proptest::prelude::*;
use storage::{DecodeError, FORMAT_VERSION, Manifest, Payload, StoredObject};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

fn decode(bytes: &[u8]) -> Result<StoredObject, DecodeError> {
    StoredObject::decode_from(&mut &bytes[..])
}

fn encode(o: &StoredObject) -> Vec<u8> {
    let mut v = Vec::new();
    o.encode_to(&mut v).expect("encode to a vec");
    v
}

/// A consistent chunk manifest: one sum per chunk of its length.
fn manifest() -> impl Strategy<Value = Manifest> {
    (any::<[u8; 16]>(), 1u32..5000, 0u64..40_000, any::<u8>()).prop_map(
        |(fill_id, chunk_bytes, len, seed)| {
            let count = len.div_ceil(u64::from(chunk_bytes)) as usize;
            Manifest {
                fill_id,
                chunk_bytes,
                len,
                sums: (0..count)
                    .map(|i| [seed.wrapping_add(i as u8); 32])
                    .collect(),
            }
        },
    )
}

fn object() -> impl Strategy<Value = StoredObject> {
    let meta = prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from);
    prop_oneof![
        (meta.clone(), prop::collection::vec(any::<u8>(), 0..512))
            .prop_map(|(m, b)| StoredObject::new(m, Bytes::from(b))),
        (meta, manifest()).prop_map(|(m, man)| StoredObject::chunked(m, man)),
    ]
}

/// Where the inline body's bytes are in a version-2 encoding: after the
/// magic, layout byte, meta length, meta and body length.
fn inline_body_span(o: &StoredObject) -> Option<std::ops::Range<usize>> {
    let Payload::Inline(b) = &o.body else {
        return None;
    };
    let start = 4 + 1 + 4 + o.meta.len() + 8;
    Some(start..start + b.len())
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, bare or behind either version's magic, decode to an error or a value.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), version in 0u8..4) {
        let _ = decode(&bytes);
        let mut framed = b"ECO".to_vec();
        framed.push(version);
        framed.extend_from_slice(&bytes);
        if let Ok(o) = decode(&framed) {
            // Only a value whose checksum matched can decode; it re-encodes to
            // the bytes it came from (version 2) or to a valid newer value.
            prop_assert_eq!(decode(&encode(&o)), Ok(o));
        }
    }

    /// Encoding then decoding gives back the same object, and the declared
    /// encoded length is the real one.
    #[test]
    fn encode_then_decode_round_trips(o in object()) {
        let v = encode(&o);
        prop_assert_eq!(v.len(), o.encoded_len());
        prop_assert_eq!(&v[..4], &[b'E', b'C', b'O', FORMAT_VERSION][..]);
        prop_assert_eq!(decode(&v), Ok(o));
    }

    /// One damaged byte anywhere is an error or the same object, never other
    /// bytes; in the body it is always a checksum mismatch.
    #[test]
    fn one_flipped_byte_is_caught(o in object(), at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let mut v = encode(&o);
        let i = at.index(v.len());
        v[i] ^= mask;
        match decode(&v) {
            Ok(got) => prop_assert_eq!(got, o, "byte {} ^ {:#x} decoded to another object", i, mask),
            Err(e) => {
                if inline_body_span(&o).is_some_and(|s| s.contains(&i)) {
                    prop_assert_eq!(e, DecodeError::ChecksumMismatch);
                }
            }
        }
    }

    /// A value cut short anywhere is an error.
    #[test]
    fn truncated_values_are_errors(o in object(), at in any::<prop::sample::Index>()) {
        let v = encode(&o);
        let cut = at.index(v.len());
        prop_assert!(decode(&v[..cut]).is_err(), "{} of {} bytes decoded", cut, v.len());
    }

    /// A length field that claims far more than the value holds is an error
    /// (and does not make the decoder wait for, or keep, bytes that never come).
    #[test]
    fn oversized_length_fields_are_errors(meta_len in any::<u32>(), body_len in any::<u64>(), tail in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut v = b"ECO\x02\x00".to_vec();
        v.extend_from_slice(&meta_len.to_le_bytes());
        v.extend_from_slice(&tail);
        prop_assert!(decode(&v).is_err());
        let mut v = b"ECO\x02\x00".to_vec();
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&body_len.to_le_bytes());
        v.extend_from_slice(&tail);
        let claimed_fits = body_len as usize + 32 == tail.len();
        prop_assert!(claimed_fits || decode(&v).is_err());
    }
}
