//! `[storage]`: the object store's budgets and placement.

use serde::Deserialize;

/// `[storage]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Memory tier budget in bytes. Default: 268435456 (256 MiB).
    pub memory_bytes: u64,
    /// Disk tier budget in bytes. Default: 1073741824 (1 GiB).
    pub disk_bytes: u64,
    /// Disk block size in bytes; one entry (an object or one chunk of it) must
    /// fit in a block. Default: 16777216 (16 MiB).
    pub block_bytes: u64,
    /// Bodies longer than this are stored as chunks of this size, read back
    /// only as far as a response needs. From 65536 to 64 KiB below
    /// `block_bytes`. Default: 1048576 (1 MiB).
    pub chunk_bytes: u64,
    /// `insertion` (disk warm after a crash) or `eviction`. Default: `insertion`.
    pub write_policy: WritePolicy,
    /// Memory-tier eviction policy: `s3fifo`, `lru`, `lfu` (W-TinyLFU),
    /// `sieve` or `fifo`. Default: `s3fifo` (chosen by the byte-hit-ratio
    /// study in docs/storage.md).
    pub eviction: EvictionPolicy,
    /// Largest body stored, in bytes; larger responses pass through uncached
    /// (`Cache-Status` detail `too-large`). At most `disk_bytes` / 2.
    /// Default: 268435456 (256 MiB).
    pub max_object_bytes: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            memory_bytes: 256 << 20,
            disk_bytes: 1 << 30,
            block_bytes: 16 << 20,
            chunk_bytes: 1 << 20,
            write_policy: WritePolicy::Insertion,
            eviction: EvictionPolicy::S3fifo,
            max_object_bytes: 256 << 20,
        }
    }
}

/// When the disk tier is written (`[storage] write_policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WritePolicy {
    /// On insertion: the disk is warm after a crash. The default.
    #[default]
    Insertion,
    /// When the memory tier evicts (fewer disk writes; lost on a crash).
    Eviction,
}

/// The memory tier's eviction policy (`[storage] eviction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvictionPolicy {
    /// S3-FIFO. The default (docs/storage.md has the study that chose it).
    #[default]
    S3fifo,
    /// Least recently used.
    Lru,
    /// W-TinyLFU.
    Lfu,
    /// SIEVE.
    Sieve,
    /// First in, first out.
    Fifo,
}

impl From<WritePolicy> for storage::WritePolicy {
    fn from(w: WritePolicy) -> Self {
        match w {
            WritePolicy::Insertion => storage::WritePolicy::OnInsertion,
            WritePolicy::Eviction => storage::WritePolicy::OnEviction,
        }
    }
}

impl From<EvictionPolicy> for storage::Eviction {
    fn from(e: EvictionPolicy) -> Self {
        match e {
            EvictionPolicy::S3fifo => storage::Eviction::S3Fifo,
            EvictionPolicy::Lru => storage::Eviction::Lru,
            EvictionPolicy::Lfu => storage::Eviction::Lfu,
            EvictionPolicy::Sieve => storage::Eviction::Sieve,
            EvictionPolicy::Fifo => storage::Eviction::Fifo,
        }
    }
}
