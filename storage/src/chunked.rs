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
use crate::manifest::Manifest;
use crate::object::StoredObject;
use crate::stats::Counters;
use bytes::{Bytes, BytesMut};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

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
        let b = obj.inline_body().filter(|b| b.len() as u64 == len);
        // A chunk object read before (the same memory-tier entry) carries
        // the sum it was verified against: hashing 1 MiB on every range hit
        // cost more than the hit itself. An object read from disk is a new
        // object, so it is always verified.
        if let Some(b) = b
            && obj
                .attachment
                .get::<VerifiedChunk>()
                .is_some_and(|v| v.0 == *want)
        {
            return Some(b.clone());
        }
        match b {
            Some(b) if blake3::hash(b) == blake3::Hash::from(*want) => {
                obj.attachment
                    .set(std::sync::Arc::new(VerifiedChunk(*want)));
                Some(b.clone())
            }
            _ => {
                Counters::bump(&self.counters().checksum_failures);
                None
            }
        }
    }
}

/// Marks a chunk object (in the memory tier) as verified against this sum.
struct VerifiedChunk([u8; 32]);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StoreConfig, WritePolicy};

    async fn store(dir: &std::path::Path) -> Store {
        Store::open(StoreConfig {
            dir: dir.to_path_buf(),
            memory_bytes: 4 << 20,
            disk_bytes: 16 << 20,
            block_bytes: 1 << 20,
            write_policy: WritePolicy::OnInsertion,
            eviction: crate::Eviction::default(),
        })
        .await
        .expect("open store")
    }

    /// A fill cut short (the origin reset, the client left) drops its writer:
    /// every chunk it had stored is removed at once, and neither the object
    /// nor any chunk of it can be read.
    #[tokio::test]
    async fn a_dropped_fill_removes_its_chunks_and_serves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path()).await;
        let key = ObjectKey::derive(&[b"dropped fill"]);
        let mut w = store.chunk_writer(key, 4096);
        w.push(&[7u8; 3 * 4096 + 100]);
        let manifest = w.manifest.clone();
        assert_eq!(manifest.sums.len(), 3, "three full chunks stored so far");
        for i in 0..3 {
            assert!(store.contains(&manifest.chunk_key(&key, i)), "chunk {i}");
        }
        let removes_before = store.stats().removes;

        drop(w);

        for i in 0..3 {
            let chunk = manifest.chunk_key(&key, i);
            assert!(!store.contains(&chunk), "chunk {i} still held");
            assert_eq!(store.get(&chunk).await, None, "chunk {i} still served");
            assert_eq!(store.read_chunk(&key, &manifest, i).await, None);
        }
        assert_eq!(store.stats().removes - removes_before, 3);
        assert_eq!(store.get(&key).await, None, "no manifest, no object");
    }

    /// `finish` hands the chunks to the manifest: dropping the finished
    /// writer removes nothing.
    #[tokio::test]
    async fn a_finished_fill_keeps_its_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path()).await;
        let key = ObjectKey::derive(&[b"finished fill"]);
        let mut w = store.chunk_writer(key, 4096);
        w.push(&[9u8; 2 * 4096 + 1]);
        assert!(w.finish(Bytes::from_static(b"meta")));
        let obj = store.get(&key).await.expect("object stored");
        let crate::Payload::Chunked(m) = obj.body else {
            panic!("a chunked object");
        };
        assert_eq!(m.sums.len(), 3);
        for i in 0..3 {
            let (_, len) = m.span(i);
            assert_eq!(
                store.read_chunk(&key, &m, i).await,
                Some(Bytes::from(vec![9u8; len as usize])),
                "chunk {i}"
            );
        }
    }
}
