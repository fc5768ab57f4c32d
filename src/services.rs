//! The process's services: what every request is handed and what outlives
//! a config reload (the store, the purge state, certificates, tunnel
//! limits, origin counters, metrics, the access log, the tracer and the
//! fleet). Built once at start; each pipeline a config builds holds them.
//! Local purges enter here ([`Services::purge`]) and go through the one
//! door, [`crate::purge::execute`].

pub mod tunnel_limits;

use crate::access_log::AccessLog;
use crate::config::Config;
use crate::fleet::Fleet;
use crate::metrics::Metrics;
use crate::purge::PurgeOp;
use crate::tls::resolver::Resolver;
use crate::trace::Tracer;
use crate::upstream::UpstreamCounters;
use std::sync::Arc;
use storage::{PurgeStore, Source, Store};
use tunnel_limits::Tunnels;

/// The process's services, shared by every pipeline it builds.
#[derive(Clone)]
pub struct Services {
    /// The object store.
    pub store: Store,
    /// Durable purge state (surrogate-key generations and bans).
    pub purge: Arc<PurgeStore>,
    /// The certificates of each `[[https]]` listener (reloaded in place).
    pub certificates: Vec<Arc<Resolver>>,
    /// WebSocket tunnels: the node-wide cap, counters, the drain signal.
    pub tunnels: Arc<Tunnels>,
    /// Origin retry, overload and timeout counters.
    pub upstream_counters: UpstreamCounters,
    /// The metric families.
    pub metrics: Arc<Metrics>,
    /// The access log's writer.
    pub access_log: Arc<AccessLog>,
    /// Spans and their export queue.
    pub tracer: Arc<Tracer>,
    /// The fleet this node belongs to (`[fleet]`), if any.
    pub fleet: Option<Arc<Fleet>>,
}

impl Services {
    /// The services of a starting process, from its first config.
    pub fn start(
        cfg: &Config,
        store: Store,
        purge: Arc<PurgeStore>,
        certificates: Vec<Arc<Resolver>>,
    ) -> Services {
        Services {
            store,
            purge,
            certificates,
            tunnels: Tunnels::new(&cfg.websocket),
            upstream_counters: Default::default(),
            metrics: Metrics::new(),
            access_log: AccessLog::start(&cfg.access_log),
            tracer: Tracer::start(&cfg.tracing),
            fleet: None,
        }
    }

    /// Reload every listener's certificates from their files. A listener
    /// whose files fail keeps the certificates it has; one line is logged
    /// per listener, and the outcome returned per listener.
    pub fn reload_certificates(&self) -> Vec<(String, Result<usize, String>)> {
        self.certificates
            .iter()
            .map(|r| {
                let outcome = r.reload().map_err(|e| e.to_string());
                match &outcome {
                    Ok(n) => tracing::info!(listener = %r.name, certificates = n, "certificates reloaded"),
                    Err(e) => tracing::error!(listener = %r.name, error = %e, "certificate reload failed; keeping the certificates in use"),
                }
                (r.name.clone(), outcome)
            })
            .collect()
    }

    /// Record a purge accepted by this node: committed locally and, in a
    /// fleet, queued in the outbox in the same commit. Returns the purge id.
    ///
    /// Blocks on the purge database's commit: call it from a blocking thread.
    pub fn purge(&self, op: &PurgeOp, soft: bool) -> Result<u64, String> {
        self.metrics.purge(op.kind(), soft);
        let payload = self
            .fleet
            .as_ref()
            .map(|f| f.envelope(op.clone(), soft).encode());
        let source = Source::Local {
            outbox: payload.as_deref(),
        };
        let id = crate::purge::execute(&self.store, &self.purge, op, soft, &source)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "a local purge was not recorded".to_string())?;
        if let Some(f) = &self.fleet {
            f.outbox_ready();
        }
        Ok(id)
    }
}
