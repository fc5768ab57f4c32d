//! Objects larger than one entry: the body is cut into fixed-size chunks,
//! each stored as its own entry, and the object's entry holds a manifest
//! (the fill id, chunk size, length and every chunk's blake3 sum).
//!
//! Rules:
//! - Chunk keys are derived from the object key, a random per-fill id and the
//!   chunk index, so chunks of two fills of the same key never mix.
//! - The manifest is inserted last: until the whole body has been written the
//!   object does not exist, so a fill cut short leaves no object behind (its
//!   chunks are unreachable and age out of the cache).
//! - A chunk read back is checked against its own entry checksum and against
//!   the manifest's sum before it is returned; anything else is a miss.

use crate::Store;
use crate::key::ObjectKey;
use crate::object::StoredObject;
use crate::stats::Counters;
use bytes::{Bytes, BytesMut};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};

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

fn new_fill_id() -> [u8; 16] {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    // RandomState is seeded randomly per process; hashing a sequence number
    // with two of them gives ids that differ across fills and restarts.
    let a = RandomState::new().hash_one(n);
    let b = RandomState::new().hash_one(n);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&a.to_le_bytes());
    id[8..].copy_from_slice(&b.to_le_bytes());
    id
}

/// Writes one chunked object: push the body as it arrives, then `finish`.
/// Dropped unfinished, it stores nothing reachable.
pub struct ChunkWriter {
    store: Store,
    key: ObjectKey,
    manifest: Manifest,
    buf: BytesMut,
    failed: bool,
    unflushed: usize,
}

/// Bytes of chunks queued for disk between two flush waits: well inside
/// foyer's default 16 MiB write buffer.
const FLUSH_EVERY: usize = 4 << 20;

impl ChunkWriter {
    pub(crate) fn new(store: Store, key: ObjectKey, chunk_bytes: u32) -> Self {
        ChunkWriter {
            store,
            key,
            manifest: Manifest {
                fill_id: new_fill_id(),
                chunk_bytes,
                len: 0,
                sums: Vec::new(),
            },
            buf: BytesMut::new(),
            failed: false,
            unflushed: 0,
        }
    }

    /// Bytes pushed so far.
    pub fn len(&self) -> u64 {
        self.manifest.len
    }

    /// Whether nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.manifest.len == 0
    }

    /// Append body bytes, storing every chunk that fills up. Returns true when
    /// enough has been queued for disk that the caller should await
    /// [`Store::flush`] before pushing more: foyer drops disk writes when its
    /// queue is full, and a dropped chunk would lose the whole object.
    pub fn push(&mut self, mut data: &[u8]) -> bool {
        let size = self.manifest.chunk_bytes as usize;
        self.manifest.len += data.len() as u64;
        while !data.is_empty() {
            let take = (size - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == size {
                self.store_chunk();
                self.unflushed += size;
            }
        }
        if self.unflushed >= FLUSH_EVERY {
            self.unflushed = 0;
            return true;
        }
        false
    }

    fn store_chunk(&mut self) {
        let chunk = self.buf.split().freeze();
        let idx = self.manifest.sums.len();
        self.manifest.sums.push(*blake3::hash(&chunk).as_bytes());
        let key = self.manifest.chunk_key(&self.key, idx);
        if !self.store.put(key, StoredObject::new(Bytes::new(), chunk)) {
            self.failed = true;
        }
    }

    /// Store the last chunk, then the manifest with `meta`. Returns false,
    /// leaving no object, if a chunk could not be stored.
    pub fn finish(mut self, meta: Bytes) -> bool {
        if !self.buf.is_empty() {
            self.store_chunk();
        }
        if self.failed {
            return false;
        }
        let manifest = std::mem::replace(
            &mut self.manifest,
            Manifest {
                fill_id: [0; 16],
                chunk_bytes: 1,
                len: 0,
                sums: Vec::new(),
            },
        );
        Counters::bump(&self.store.counters().chunked_objects);
        self.store
            .put(self.key, StoredObject::chunked(meta, manifest))
    }
}

impl Drop for ChunkWriter {
    /// An unfinished fill frees its chunks at once rather than leaving them
    /// for eviction (`finish` empties the manifest, so this is then a no-op).
    fn drop(&mut self) {
        for idx in 0..self.manifest.sums.len() {
            self.store.remove(&self.manifest.chunk_key(&self.key, idx));
        }
    }
}

impl Store {
    /// Start writing `key` as a chunked object with chunks of `chunk_bytes`
    /// (at most [`Store::max_object_bytes`]).
    pub fn chunk_writer(&self, key: ObjectKey, chunk_bytes: u32) -> ChunkWriter {
        let size = (chunk_bytes as usize).clamp(4096, self.max_object_bytes().max(4096));
        ChunkWriter::new(self.clone(), key, size as u32)
    }

    /// Whether every chunk of the object stored under `key` is still held
    /// (an index check, no read). A missing chunk makes the object a miss.
    pub fn chunks_present(&self, key: &ObjectKey, manifest: &Manifest) -> bool {
        (0..manifest.sums.len()).all(|i| self.contains(&manifest.chunk_key(key, i)))
    }

    /// Read chunk `idx` of the object stored under `key`, verified against
    /// the manifest. None when it is missing or damaged (counted).
    pub async fn read_chunk(
        &self,
        key: &ObjectKey,
        manifest: &Manifest,
        idx: usize,
    ) -> Option<Bytes> {
        let want = manifest.sums.get(idx)?;
        let (_, len) = manifest.span(idx);
        let Some(obj) = self.get(&manifest.chunk_key(key, idx)).await else {
            Counters::bump(&self.counters().lost_chunks);
            return None;
        };
        match obj.inline_body() {
            Some(b) if b.len() as u64 == len && blake3::hash(b) == blake3::Hash::from(*want) => {
                Some(b.clone())
            }
            _ => {
                Counters::bump(&self.counters().checksum_failures);
                None
            }
        }
    }
}
