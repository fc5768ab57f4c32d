//! The node's side of the purge API: purges become durable records in the
//! purge database (checked lazily on lookup), plus best-effort removal of
//! the objects they name so their space is reclaimed early. In a fleet, the
//! same commit queues the purge for the other nodes ([`crate::fleet`]),
//! which apply it through [`execute`] too.

use crate::fleet::{Fleet, PurgeOp};
use crate::http_cache::{canonical, key};
use crate::proxy::Node;
use purge_api::{FleetWaitFuture, Mode, Purger};
use std::sync::Arc;
use storage::{BanMatch, PurgeStore, Source, Store};

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

/// Record a purge accepted by this node: committed locally and, in a
/// fleet, queued in the outbox in the same commit. Returns the purge id.
///
/// Blocks on the purge database's commit: call it from a blocking thread.
pub fn record(node: &Node, op: &PurgeOp, soft: bool) -> Result<u64, String> {
    node.metrics.purge(op.kind(), soft);
    let payload = node
        .fleet
        .as_ref()
        .map(|f| f.envelope(op.clone(), soft).encode());
    let source = Source::Local {
        outbox: payload.as_deref(),
    };
    let id = execute(&node.store, &node.purge, op, soft, &source)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "a local purge was not recorded".to_string())?;
    if let Some(f) = &node.fleet {
        f.outbox_ready();
    }
    Ok(id)
}

/// Carries out purges for the purge API. Each call blocks on the purge
/// database's commit; the API router makes it on a blocking thread.
pub struct NodePurger {
    node: Arc<Node>,
}

impl NodePurger {
    /// A purger for `node`.
    pub fn new(node: Arc<Node>) -> Self {
        NodePurger { node }
    }

    fn fleet(&self) -> Option<&Arc<Fleet>> {
        self.node.fleet.as_ref()
    }
}

fn soft(mode: Mode) -> bool {
    mode == Mode::Soft
}

/// A purged host spelled as requests are keyed (http_cache::canonical):
/// lower case, without a trailing dot.
fn host_key(host: &str) -> String {
    canonical::host(&host.to_ascii_lowercase()).to_string()
}

impl Purger for NodePurger {
    fn purge_keys(&self, hosts: &[String], keys: &[String], mode: Mode) -> Result<u64, String> {
        let hosts: Vec<String> = hosts
            .iter()
            .map(|h| if h == "*" { h.clone() } else { host_key(h) })
            .collect();
        let count = keys.len();
        let op = PurgeOp::Keys {
            hosts: hosts.clone(),
            keys: keys.to_vec(),
        };
        let id = record(&self.node, &op, soft(mode))?;
        tracing::info!(id, ?hosts, count, ?mode, "purged surrogate keys");
        Ok(id)
    }

    fn purge_url(&self, host: &str, path_and_query: &str, mode: Mode) -> Result<u64, String> {
        // Every spelling of the URL is keyed as one (dot segments, encoded
        // unreserved characters, host case, trailing dot).
        let host = host_key(host);
        let path = canonical::path_and_query(path_and_query).into_owned();
        let op = PurgeOp::Url {
            host: host.clone(),
            path: path.clone(),
        };
        let id = record(&self.node, &op, soft(mode))?;
        tracing::info!(id, host, path, ?mode, "purged URL");
        Ok(id)
    }

    fn purge_prefix(&self, host: &str, prefix: &str, mode: Mode) -> Result<u64, String> {
        let host = host_key(host);
        let prefix = canonical::path_and_query(prefix).into_owned();
        let op = PurgeOp::Prefix {
            host: host.clone(),
            prefix: prefix.clone(),
        };
        let id = record(&self.node, &op, soft(mode))?;
        tracing::info!(id, host, prefix, ?mode, "purged prefix");
        Ok(id)
    }

    fn purge_all(&self, host: &str, mode: Mode) -> Result<u64, String> {
        let host = host_key(host);
        let op = PurgeOp::All { host: host.clone() };
        let id = record(&self.node, &op, soft(mode))?;
        tracing::info!(id, host, ?mode, "purged every object of the host");
        Ok(id)
    }

    fn serves_host(&self, host: &str) -> bool {
        self.node.sites.site_for(host).is_ok()
    }

    fn in_fleet(&self) -> bool {
        self.fleet().is_some()
    }

    fn wait_fleet(&self, id: u64, timeout_ms: Option<u64>) -> FleetWaitFuture {
        let fleet = self.fleet().cloned();
        Box::pin(async move {
            match fleet {
                Some(f) => Ok(f.wait(id, timeout_ms).await),
                None => Err("this node is not in a fleet".to_string()),
            }
        })
    }
}
