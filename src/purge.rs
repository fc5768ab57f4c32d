//! Purges: what one is ([`PurgeOp`]) and the one door every purge goes
//! through ([`execute`]): the purge API, the `PURGE` method, the origin's
//! purge field and the fleet's stream all end here, with the store and the
//! purge state. A purge becomes a durable record in the purge database
//! (checked lazily on lookup), plus best-effort removal of the object it
//! names so its space is reclaimed early.

use crate::http_cache::key;
use serde::{Deserialize, Serialize};
use storage::{BanMatch, PurgeStore, Source, Store};

/// One purge, in the terms the node's purge store records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PurgeOp {
    /// Surrogate keys within hosts (`"*"`: every host).
    Keys {
        /// Hosts, canonical.
        hosts: Vec<String>,
        /// Surrogate keys.
        keys: Vec<String>,
    },
    /// One URL, every variant.
    Url {
        /// Host, canonical.
        host: String,
        /// Path and query, canonical.
        path: String,
    },
    /// Every URL of the host under a path prefix.
    Prefix {
        /// Host, canonical.
        host: String,
        /// Path prefix, canonical.
        prefix: String,
    },
    /// Everything of the host.
    All {
        /// Host, canonical.
        host: String,
    },
}

impl PurgeOp {
    /// The purge's kind, as metrics and logs name it.
    pub fn kind(&self) -> &'static str {
        match self {
            PurgeOp::Keys { .. } => "key",
            PurgeOp::Url { .. } => "url",
            PurgeOp::Prefix { .. } => "prefix",
            PurgeOp::All { .. } => "all",
        }
    }
}

/// Record `op` from `source` in the purge database, then (hard URL purges)
/// drop the object from the store so its space is reclaimed. `Ok(None)`: a
/// purge from the fleet's stream that was applied before.
///
/// Blocks on the purge database's commit: call it from a blocking thread.
pub fn execute(
    store: &Store,
    purge: &PurgeStore,
    op: &PurgeOp,
    soft: bool,
    source: &Source,
) -> Result<Option<u64>, storage::PurgeError> {
    let id = match op {
        PurgeOp::Keys { hosts, keys } => purge.purge_keys_from(source, hosts, keys, soft)?,
        PurgeOp::Url { host, path } => {
            let id = purge.ban_from(source, host, BanMatch::Exact(path.clone()), soft)?;
            if !soft && id.is_some() {
                // The ban already hides it; removing the primary key frees
                // the space (and hides every Vary variant at once).
                for scheme in ["http", "https"] {
                    store.remove(&key::primary(scheme, host, path));
                }
            }
            id
        }
        PurgeOp::Prefix { host, prefix } => {
            purge.ban_from(source, host, BanMatch::Prefix(prefix.clone()), soft)?
        }
        PurgeOp::All { host } => purge.ban_from(source, host, BanMatch::All, soft)?,
    };
    Ok(id)
}
