//! edgecache's object store: an HTTP-agnostic hybrid memory/disk cache of
//! opaque objects, each a metadata blob plus a body, addressed by a 32-byte key.
//!
//! Invariants the store keeps for its callers:
//! - A value read back is byte-identical to the one inserted, or it is a miss.
//!   Objects read from disk are verified against their blake3 checksum before
//!   they are returned; a mismatch is counted and reported as a miss.
//! - The disk tier is best-effort: an insert never fails because the disk is
//!   slow, full or broken. Dropped writes are counted, never surfaced as errors.
//! - Objects larger than one entry are stored in chunks behind a manifest
//!   (see `chunked`); every chunk is verified before it is returned.
//! - A removed key stays removed across restarts (foyer's tombstone log is on).
//!
//! The store knows nothing about HTTP: freshness, variants and headers live in
//! the metadata blob that the caller encodes.

mod chunked;
mod engine_metrics;
mod hybrid;
mod key;
mod manifest;
mod object;
mod preallocate;
mod purge;
mod stats;

pub use chunked::ChunkWriter;
pub use hybrid::{Eviction, Store, StoreConfig, StoreError, Tier, WritePolicy};
pub use key::ObjectKey;
pub use manifest::Manifest;
pub use object::{
    ATTACHMENT_ALLOWANCE, Attachment, DecodeError, FORMAT_VERSION, Payload, StoredObject,
};
pub use purge::{ALL_SCOPES, BanMatch, PurgeError, PurgeStore, Purged, Source, StreamPosition};
pub use stats::StoreStats;
