//! The store: foyer's HybridCache (memory tier + block engine on a directory)
//! wrapped behind a narrow, HTTP-agnostic interface.

use crate::engine_metrics::{EngineCounters, Registry};
use crate::key::ObjectKey;
use crate::object::StoredObject;
use crate::stats::{Counters, StoreStats};
use foyer::{
    BlockEngineConfig, DeviceBuilder, EvictionConfig, FifoConfig, FsDeviceBuilder, HybridCache,
    HybridCacheBuilder, HybridCachePolicy, LfuConfig, LruConfig, RecoverMode, S3FifoConfig,
    SieveConfig, Source,
};
use parking_lot::Mutex;
use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

/// The tier a stored object was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// The memory tier.
    Memory,
    /// The disk tier (the object is now also in memory).
    Disk,
}

impl Tier {
    /// `memory` or `disk`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Memory => "memory",
            Tier::Disk => "disk",
        }
    }
}

/// When objects are written to the disk tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WritePolicy {
    /// Write every object to disk as it is inserted: the disk is warm after a crash.
    OnInsertion,
    /// Write objects to disk only when the memory tier evicts them (and on clean close).
    OnEviction,
}

/// The memory tier's eviction policy (see docs/storage.md for the
/// byte-hit-ratio measurement that chose the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Eviction {
    /// S3-FIFO: a small probationary FIFO, a main FIFO and a ghost queue.
    #[default]
    S3Fifo,
    /// Least recently used.
    Lru,
    /// Window TinyLFU.
    Lfu,
    /// SIEVE.
    Sieve,
    /// First in, first out.
    Fifo,
}

impl Eviction {
    /// Parse the config spelling: `s3fifo`, `lru`, `lfu`, `sieve` or `fifo`.
    pub fn parse(s: &str) -> Option<Eviction> {
        Some(match s {
            "s3fifo" => Eviction::S3Fifo,
            "lru" => Eviction::Lru,
            "lfu" => Eviction::Lfu,
            "sieve" => Eviction::Sieve,
            "fifo" => Eviction::Fifo,
            _ => return None,
        })
    }

    fn config(self) -> EvictionConfig {
        match self {
            Eviction::S3Fifo => S3FifoConfig::default().into(),
            Eviction::Lru => LruConfig::default().into(),
            Eviction::Lfu => LfuConfig::default().into(),
            Eviction::Sieve => SieveConfig.into(),
            Eviction::Fifo => FifoConfig::default().into(),
        }
    }
}

/// Store configuration. Plain data; the node fills it from its own config.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Directory holding the disk tier's block files. Created if missing.
    pub dir: PathBuf,
    /// Memory tier capacity in bytes.
    pub memory_bytes: usize,
    /// Disk tier capacity in bytes. Must hold at least a few blocks.
    pub disk_bytes: usize,
    /// Disk block size in bytes: also the largest object the disk tier can hold.
    pub block_bytes: usize,
    /// When objects reach the disk tier.
    pub write_policy: WritePolicy,
    /// The memory tier's eviction policy.
    pub eviction: Eviction,
}

/// Errors opening or closing the store. Reads and writes never fail: they
/// degrade to misses and dropped writes, which [`StoreStats`] counts.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration cannot work (names the field).
    #[error("storage config: {0}")]
    Config(String),
    /// The data directory cannot be created or used.
    #[error("storage directory {dir}: {source}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// foyer refused to open or close.
    #[error("storage engine: {0}")]
    Engine(String),
}

/// The hybrid object store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    cache: HybridCache<ObjectKey, StoredObject>,
    counters: Arc<Counters>,
    max_object_bytes: usize,
    removed: Arc<Mutex<RemovedGuard>>,
    disk_disabled: Option<String>,
    engine: Arc<EngineCounters>,
    write_policy: WritePolicy,
}

/// Keys removed since their last insert. foyer keeps an entry whose disk
/// write is still queued readable after `remove` (its in-flight "keeper"), so
/// the store itself must refuse such an entry until the key is stored again.
/// Bounded: the oldest guards are dropped first, long after any queued write
/// has been flushed.
#[derive(Default)]
struct RemovedGuard {
    keys: HashSet<ObjectKey>,
    order: VecDeque<ObjectKey>,
}

const REMOVED_GUARD_CAPACITY: usize = 1 << 16;

impl RemovedGuard {
    fn insert(&mut self, key: ObjectKey) {
        if self.keys.insert(key) {
            self.order.push_back(key);
        }
        while self.order.len() > REMOVED_GUARD_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
    }
}

impl Store {
    /// Open (or create) the store in `cfg.dir`, recovering what the disk tier holds.
    pub async fn open(cfg: StoreConfig) -> Result<Store, StoreError> {
        if cfg.block_bytes < 64 * 1024 {
            return Err(StoreError::Config(
                "block_bytes must be at least 64 KiB".into(),
            ));
        }
        if cfg.disk_bytes < 2 * cfg.block_bytes {
            return Err(StoreError::Config(format!(
                "disk_bytes ({}) must hold at least two blocks of block_bytes ({})",
                cfg.disk_bytes, cfg.block_bytes
            )));
        }
        if cfg.memory_bytes < 1024 * 1024 {
            return Err(StoreError::Config(
                "memory_bytes must be at least 1 MiB".into(),
            ));
        }
        std::fs::create_dir_all(&cfg.dir).map_err(|source| StoreError::Dir {
            dir: cfg.dir.clone(),
            source,
        })?;
        // A directory we cannot write to fails here, with its name, rather than inside foyer.
        let probe = cfg.dir.join(".edgecache-write-probe");
        std::fs::write(&probe, b"ok").map_err(|source| StoreError::Dir {
            dir: cfg.dir.clone(),
            source,
        })?;
        let _ = std::fs::remove_file(&probe);
        crate::preallocate::reserve(&cfg.dir, cfg.disk_bytes, cfg.block_bytes).map_err(
            |source| StoreError::Dir {
                dir: cfg.dir.clone(),
                source,
            },
        )?;

        let device = FsDeviceBuilder::new(&cfg.dir)
            .with_capacity(cfg.disk_bytes)
            .build()
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        let policy = match cfg.write_policy {
            WritePolicy::OnInsertion => HybridCachePolicy::WriteOnInsertion,
            WritePolicy::OnEviction => HybridCachePolicy::WriteOnEviction,
        };
        let engine = Arc::new(EngineCounters::default());
        let cache = HybridCacheBuilder::new()
            .with_name("edgecache-objects")
            .with_metrics_registry(Box::new(Registry(engine.clone())))
            .with_policy(policy)
            // Store::close offloads the memory tier itself, in batches that
            // foyer's write queue can take (its own flush drops the excess).
            .with_flush_on_close(false)
            .memory(cfg.memory_bytes)
            .with_eviction_config(cfg.eviction.config())
            .with_weighter(|_k: &ObjectKey, v: &StoredObject| v.weight())
            .storage()
            .with_engine_config(
                BlockEngineConfig::new(device)
                    .with_block_size(cfg.block_bytes)
                    // Removed objects must stay removed after a restart.
                    .with_tombstone_log(true),
            )
            .with_recover_mode(RecoverMode::Quiet)
            .build()
            .await
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        // An entry also carries foyer's header and our framing; keep a margin.
        let max_object_bytes = cfg.block_bytes.saturating_sub(4096);
        Ok(Store {
            cache,
            counters: Arc::new(Counters::default()),
            max_object_bytes,
            removed: Arc::new(Mutex::new(RemovedGuard::default())),
            disk_disabled: None,
            engine,
            write_policy: cfg.write_policy,
        })
    }

    /// Open the store; if the disk tier cannot be used (unwritable or missing
    /// directory, device error), open a memory-only store instead and say
    /// why in [`Store::disk_disabled`]. Configuration errors still fail.
    pub async fn open_or_memory(cfg: StoreConfig) -> Result<Store, StoreError> {
        match Store::open(cfg.clone()).await {
            Err(e @ (StoreError::Dir { .. } | StoreError::Engine(_))) => {
                tracing::error!(error = %e, "disk tier unavailable; serving from memory and origin only");
                let cache = HybridCacheBuilder::new()
                    .with_name("edgecache-objects")
                    .memory(cfg.memory_bytes)
                    .with_eviction_config(cfg.eviction.config())
                    .with_weighter(|_k: &ObjectKey, v: &StoredObject| v.weight())
                    .storage()
                    .build()
                    .await
                    .map_err(|e| StoreError::Engine(e.to_string()))?;
                Ok(Store {
                    cache,
                    counters: Arc::new(Counters::default()),
                    max_object_bytes: cfg.block_bytes.saturating_sub(4096),
                    removed: Arc::new(Mutex::new(RemovedGuard::default())),
                    disk_disabled: Some(e.to_string()),
                    engine: Arc::new(EngineCounters::default()),
                    write_policy: cfg.write_policy,
                })
            }
            other => other,
        }
    }

    /// Why the disk tier is off, when it is.
    pub fn disk_disabled(&self) -> Option<&str> {
        self.disk_disabled.as_deref()
    }

    /// The largest object (meta + body) this store accepts.
    pub fn max_object_bytes(&self) -> usize {
        self.max_object_bytes
    }

    /// Look an object up. Damaged disk entries are removed and reported as misses.
    pub async fn get(&self, key: &ObjectKey) -> Option<StoredObject> {
        self.get_tiered(key).await.map(|(obj, _)| obj)
    }

    /// [`Store::get`], also saying which tier held the object.
    pub async fn get_tiered(&self, key: &ObjectKey) -> Option<(StoredObject, Tier)> {
        match self.cache.get(key).await {
            Ok(Some(_)) if self.removed.lock().keys.contains(key) => {
                // A removed object read back from foyer's write queue (and
                // re-populated into memory by that read): not stored any more.
                self.cache.remove(key);
                Counters::bump(&self.counters.misses);
                None
            }
            Ok(Some(entry)) => {
                let tier = match entry.source() {
                    Source::Disk => Tier::Disk,
                    _ => Tier::Memory,
                };
                Counters::bump(match tier {
                    Tier::Disk => &self.counters.disk_hits,
                    Tier::Memory => &self.counters.memory_hits,
                });
                Some((entry.value().clone(), tier))
            }
            Ok(None) => {
                Counters::bump(&self.counters.misses);
                None
            }
            Err(e) => {
                if e.kind() == foyer::ErrorKind::External {
                    tracing::warn!(key = ?key, error = %e, "damaged object on disk, removing it");
                    Counters::bump(&self.counters.checksum_failures);
                } else {
                    tracing::warn!(key = ?key, error = %e, "disk read failed, treating as a miss");
                    Counters::bump(&self.counters.read_errors);
                }
                self.cache.remove(key);
                Counters::bump(&self.counters.misses);
                None
            }
        }
    }

    /// Insert or replace an object. Returns false, storing nothing, when the
    /// object is larger than [`Store::max_object_bytes`].
    pub fn put(&self, key: ObjectKey, obj: StoredObject) -> bool {
        if obj.encoded_len() > self.max_object_bytes {
            Counters::bump(&self.counters.oversize_rejects);
            return false;
        }
        Counters::bump(&self.counters.inserts);
        self.removed.lock().keys.remove(&key);
        self.cache.insert(key, obj);
        true
    }

    /// Remove an object from both tiers; the removal survives restarts.
    pub fn remove(&self, key: &ObjectKey) {
        Counters::bump(&self.counters.removes);
        self.removed.lock().insert(*key);
        self.cache.remove(key);
    }

    /// Whether `key` is held in either tier (an index check, no read).
    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.cache.contains(key) && !self.removed.lock().keys.contains(key)
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> StoreStats {
        let mut s = self.counters.snapshot(self.cache.memory().usage() as u64);
        s.disk_write_drops = self.engine.dropped();
        s.disk_writes_enqueued = self
            .engine
            .enqueued
            .load(std::sync::atomic::Ordering::Relaxed);
        s
    }

    /// Wait until queued disk writes have been submitted.
    pub async fn flush(&self) {
        self.cache.storage().wait().await;
    }

    /// Flush and close: after this returns, a reopen of the same directory
    /// serves every object that was in memory.
    pub async fn close(&self) -> Result<(), StoreError> {
        // Queued writes first: foyer's close does not wait for all of them.
        self.flush().await;
        if self.write_policy == WritePolicy::OnEviction && self.disk_disabled.is_none() {
            // Objects only in memory go to disk now, 1/64th of the memory tier
            // at a time, each batch waited for: one big flush would overrun
            // foyer's write queue and drop the excess.
            for part in 0..64u8 {
                self.cache
                    .flush_if(|k: &ObjectKey, _v: &StoredObject| k.0[0] % 64 == part)
                    .await;
                self.flush().await;
            }
        }
        self.cache
            .close()
            .await
            .map_err(|e| StoreError::Engine(e.to_string()))
    }
}
