//! The node's side of the purge API: purges become durable records in the
//! purge database (checked lazily on lookup), plus best-effort removal of
//! the objects they name so their space is reclaimed early.

use crate::http_cache::{canonical, key};
use crate::proxy::Node;
use purge_api::{Mode, Purger};
use std::sync::Arc;
use storage::BanMatch;

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
        self.node.metrics.purge("key", soft(mode));
        let hosts: Vec<String> = hosts
            .iter()
            .map(|h| if h == "*" { h.clone() } else { host_key(h) })
            .collect();
        let hosts = hosts.as_slice();
        let id = self
            .node
            .purge
            .purge_keys(hosts, keys, soft(mode))
            .map_err(|e| e.to_string())?;
        tracing::info!(
            id,
            ?hosts,
            count = keys.len(),
            ?mode,
            "purged surrogate keys"
        );
        Ok(id)
    }

    fn purge_url(&self, host: &str, path_and_query: &str, mode: Mode) -> Result<u64, String> {
        self.node.metrics.purge("url", soft(mode));
        // Every spelling of the URL is keyed as one (dot segments, encoded
        // unreserved characters, host case, trailing dot).
        let host = host_key(host);
        let host = host.as_str();
        let pq = canonical::path_and_query(path_and_query);
        let path_and_query = pq.as_ref();
        let id = self
            .node
            .purge
            .ban(
                host,
                BanMatch::Exact(path_and_query.to_string()),
                soft(mode),
            )
            .map_err(|e| e.to_string())?;
        if mode == Mode::Hard {
            // The ban already hides it; removing the primary key frees the
            // space (and hides every Vary variant at once).
            for scheme in ["http", "https"] {
                self.node
                    .store
                    .remove(&key::primary(scheme, host, path_and_query));
            }
        }
        tracing::info!(id, host, path = path_and_query, ?mode, "purged URL");
        Ok(id)
    }

    fn purge_prefix(&self, host: &str, prefix: &str, mode: Mode) -> Result<u64, String> {
        self.node.metrics.purge("prefix", soft(mode));
        let host = host_key(host);
        let host = host.as_str();
        let prefix = canonical::path_and_query(prefix);
        let prefix = prefix.as_ref();
        let id = self
            .node
            .purge
            .ban(host, BanMatch::Prefix(prefix.to_string()), soft(mode))
            .map_err(|e| e.to_string())?;
        tracing::info!(id, host, prefix, ?mode, "purged prefix");
        Ok(id)
    }

    fn purge_all(&self, host: &str, mode: Mode) -> Result<u64, String> {
        self.node.metrics.purge("all", soft(mode));
        let host = host_key(host);
        let host = host.as_str();
        let id = self
            .node
            .purge
            .ban(host, BanMatch::All, soft(mode))
            .map_err(|e| e.to_string())?;
        tracing::info!(id, host, ?mode, "purged every object of the host");
        Ok(id)
    }

    fn serves_host(&self, host: &str) -> bool {
        self.node.sites.site_for(host).is_ok()
    }
}
