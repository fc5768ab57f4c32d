//! The node's side of the purge API (the `purge_api::Purger` trait): a
//! purge named by host and URL, prefix or surrogate keys is spelled as
//! requests are keyed, then recorded through the process's services
//! ([`crate::services::Services::purge`]).

use crate::fleet::Fleet;
use crate::http_cache::canonical;
use crate::proxy::Pipeline;
use crate::purge::PurgeOp;
use purge_api::{FleetWaitFuture, Mode, Purger};
use std::sync::Arc;

/// Carries out purges for the purge API. Each call blocks on the purge
/// database's commit; the API router makes it on a blocking thread.
pub struct NodePurger {
    pipeline: Arc<Pipeline>,
}

impl NodePurger {
    /// A purger for `node`.
    pub fn new(pipeline: Arc<Pipeline>) -> Self {
        NodePurger { pipeline }
    }

    fn fleet(&self) -> Option<&Arc<Fleet>> {
        self.pipeline.services.fleet.as_ref()
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
        let id = self.pipeline.services.purge(&op, soft(mode))?;
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
        let id = self.pipeline.services.purge(&op, soft(mode))?;
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
        let id = self.pipeline.services.purge(&op, soft(mode))?;
        tracing::info!(id, host, prefix, ?mode, "purged prefix");
        Ok(id)
    }

    fn purge_all(&self, host: &str, mode: Mode) -> Result<u64, String> {
        let host = host_key(host);
        let op = PurgeOp::All { host: host.clone() };
        let id = self.pipeline.services.purge(&op, soft(mode))?;
        tracing::info!(id, host, ?mode, "purged every object of the host");
        Ok(id)
    }

    fn serves_host(&self, host: &str) -> bool {
        self.pipeline.sites.site_for(host).is_ok()
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
