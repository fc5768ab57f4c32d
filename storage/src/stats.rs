//! Counters the store keeps about itself.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of the store's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Lookups answered from the memory tier.
    pub memory_hits: u64,
    /// Lookups answered from the disk tier.
    pub disk_hits: u64,
    /// Lookups that found nothing (including damaged entries).
    pub misses: u64,
    /// Objects inserted.
    pub inserts: u64,
    /// Objects removed by the caller.
    pub removes: u64,
    /// Disk entries that failed their checksum or could not be decoded.
    pub checksum_failures: u64,
    /// Disk reads that failed with an I/O error.
    pub read_errors: u64,
    /// Objects refused because they exceed the largest storable entry.
    pub oversize_rejects: u64,
    /// Chunked objects completed (their manifest stored).
    pub chunked_objects: u64,
    /// Chunks found missing when a chunked object was read.
    pub lost_chunks: u64,
    /// Disk writes foyer dropped because its queue or buffers were full.
    pub disk_write_drops: u64,
    /// Entries submitted to the disk tier for writing.
    pub disk_writes_enqueued: u64,
    /// Bytes currently held by the memory tier.
    pub memory_bytes: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub memory_hits: AtomicU64,
    pub disk_hits: AtomicU64,
    pub misses: AtomicU64,
    pub inserts: AtomicU64,
    pub removes: AtomicU64,
    pub checksum_failures: AtomicU64,
    pub read_errors: AtomicU64,
    pub oversize_rejects: AtomicU64,
    pub chunked_objects: AtomicU64,
    pub lost_chunks: AtomicU64,
}

impl Counters {
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self, memory_bytes: u64) -> StoreStats {
        StoreStats {
            memory_hits: self.memory_hits.load(Relaxed),
            disk_hits: self.disk_hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            inserts: self.inserts.load(Relaxed),
            removes: self.removes.load(Relaxed),
            checksum_failures: self.checksum_failures.load(Relaxed),
            read_errors: self.read_errors.load(Relaxed),
            oversize_rejects: self.oversize_rejects.load(Relaxed),
            chunked_objects: self.chunked_objects.load(Relaxed),
            lost_chunks: self.lost_chunks.load(Relaxed),
            disk_write_drops: 0,
            disk_writes_enqueued: 0,
            memory_bytes,
        }
    }
}
