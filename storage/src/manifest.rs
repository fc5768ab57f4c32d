//! The manifest of a chunked object: which fill wrote its chunks, their
//! size and every chunk's blake3 sum. It is part of the object's encoding
//! (see `object`) and is what `chunked` writes and reads chunks by; it lives
//! here so that neither of those modules depends on the other.

use crate::key::ObjectKey;
use std::ops::RangeInclusive;

/// Where a chunked body's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Random id of the fill that wrote the chunks.
    pub fill_id: [u8; 16],
    /// Size of every chunk but the last.
    pub chunk_bytes: u32,
    /// Body length in bytes.
    pub len: u64,
    /// blake3 sum of each chunk, in order.
    pub sums: Vec<[u8; 32]>,
}

impl Manifest {
    /// Whether the chunk count matches the length and chunk size.
    pub fn is_consistent(&self) -> bool {
        self.chunk_bytes > 0
            && self.sums.len() as u64 == self.len.div_ceil(u64::from(self.chunk_bytes))
    }

    /// Offset and length of chunk `idx`.
    pub fn span(&self, idx: usize) -> (u64, u64) {
        let start = idx as u64 * u64::from(self.chunk_bytes);
        (
            start,
            u64::from(self.chunk_bytes).min(self.len.saturating_sub(start)),
        )
    }

    /// The chunks holding bytes `first..=last` of the body.
    pub fn chunks_for(&self, first: u64, last: u64) -> RangeInclusive<usize> {
        let c = u64::from(self.chunk_bytes);
        (first / c) as usize..=(last / c) as usize
    }

    /// The store key of chunk `idx` of the object stored under `object`.
    pub fn chunk_key(&self, object: &ObjectKey, idx: usize) -> ObjectKey {
        ObjectKey::derive(&[
            b"edgecache-chunk",
            &object.0,
            &self.fill_id,
            &(idx as u64).to_le_bytes(),
        ])
    }
}
