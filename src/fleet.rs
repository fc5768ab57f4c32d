//! The fleet: purge fan-out over NATS JetStream.
//!
//! - A purge accepted here is committed locally with its message in the
//!   purge database's outbox (one transaction); the [`publisher`] sends the
//!   outbox to the stream, with the purge's fleet id as `Nats-Msg-Id`, and
//!   empties it as the stream acknowledges. NATS down: the outbox waits.
//! - Every node reads the stream through its own durable consumer
//!   ([`consumer`]) and applies each purge once (by fleet id), recording
//!   the stream position in the same commit; then acknowledges it to the
//!   node that accepted it.
//! - [`presence`] announces the node and tracks who is live, for
//!   `?wait=fleet`.
//!
//! docs/fleet.md has the topology and what happens in each failure.

pub mod consumer;
mod message;
pub mod plan;
mod presence;
mod publisher;

use crate::purge::PurgeOp;
pub use message::{Envelope, MAX_MESSAGE_BYTES, Rejected, fleet_id};

use crate::config::{CatchUp, FleetConfig};
use presence::Presence;
use purge_api::FleetWait;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use storage::{PurgeStore, Store};
use tokio::sync::Notify;

/// The fleet's counters, read by the metrics collector.
#[derive(Default, Debug)]
pub struct FleetCounters {
    /// Purges published to the stream (and acknowledged by it).
    pub published: AtomicU64,
    /// Publish attempts that failed (NATS down, timeout); retried.
    pub publish_failures: AtomicU64,
    /// Purges from other nodes applied here.
    pub applied: AtomicU64,
    /// Stream messages read and not applied: this node's own, duplicates.
    pub skipped: AtomicU64,
    /// Stream messages that were not purges this node can read.
    pub rejected: AtomicU64,
    /// Times a gap in the stream (purges expired before this node read
    /// them) made the node soft-purge everything.
    pub gaps: AtomicU64,
    /// Messages the stream still holds for this node (last seen).
    pub consumer_pending: AtomicU64,
    /// Milliseconds from the stream receiving the last applied purge to
    /// its being applied here.
    pub last_propagation_ms: AtomicU64,
    /// Times the consumer (re)connected to the stream.
    pub consumer_starts: AtomicU64,
}

/// This node's membership in the fleet.
pub struct Fleet {
    node_id: String,
    epoch: u64,
    cfg: FleetConfig,
    purge: Arc<PurgeStore>,
    store: Store,
    outbox_wake: Notify,
    caught_up: AtomicBool,
    /// The last stream sequence read and applied (or skipped) here.
    position: AtomicU64,
    /// Counters for the metrics collector.
    pub counters: FleetCounters,
    presence: Presence,
    propagation: prometheus_client::metrics::histogram::Histogram,
    tasks: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// A fleet that could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The purge database could not record the fleet epoch.
    #[error("fleet: {0}")]
    Purge(#[from] storage::PurgeError),
    /// A start-up task failed.
    #[error("fleet: {0}")]
    Task(String),
    /// A credentials file could not be read.
    #[error("fleet.{field}: {message}")]
    Credentials {
        /// The config field.
        field: &'static str,
        /// What failed.
        message: String,
    },
}

impl Fleet {
    /// Join the fleet `cfg` describes: connect to NATS in the background
    /// (retrying until it answers) and start publishing the outbox,
    /// consuming the stream and announcing this node. The node serves
    /// meanwhile; see [`Fleet::revalidate_all`].
    pub async fn start(
        cfg: &FleetConfig,
        purge: Arc<PurgeStore>,
        store: Store,
        propagation: prometheus_client::metrics::histogram::Histogram,
    ) -> Result<Arc<Fleet>, FleetError> {
        let epoch = {
            let purge = purge.clone();
            let fresh = crate::random::next_u64();
            tokio::task::spawn_blocking(move || purge.fleet_epoch(fresh))
                .await
                .map_err(|e| FleetError::Task(e.to_string()))??
        };
        let node_id = cfg.node_id();
        let options = connect_options(cfg, &node_id).await?;
        let fleet = Arc::new(Fleet {
            presence: Presence::new(&node_id, Duration::from_millis(cfg.presence_interval_ms)),
            node_id,
            epoch,
            cfg: cfg.clone(),
            purge,
            store,
            outbox_wake: Notify::new(),
            caught_up: AtomicBool::new(false),
            position: AtomicU64::new(0),
            counters: FleetCounters::default(),
            propagation,
            tasks: parking_lot::Mutex::new(Vec::new()),
        });
        let client =
            options
                .connect(cfg.servers.clone())
                .await
                .map_err(|e| FleetError::Credentials {
                    field: "servers",
                    message: e.to_string(),
                })?;
        let js = async_nats::jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .ack_timeout(Duration::from_secs(5))
            .build(client.clone());
        let tasks = vec![
            tokio::spawn(publisher::run(fleet.clone(), js.clone())),
            tokio::spawn(consumer::run(fleet.clone(), js.clone())),
            tokio::spawn(presence::run(fleet.clone(), client)),
        ];
        fleet.tasks.lock().extend(tasks);
        tracing::info!(node = %fleet.node_id, servers = ?cfg.servers, stream = %cfg.stream, "joining the fleet");
        Ok(fleet)
    }

    /// Stop taking part: no more publishing, consuming or announcing. The
    /// outbox and the stream position stay on disk for the next start.
    pub fn stop(&self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }

    /// This node's id in the fleet.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The message for a purge accepted here now.
    pub fn envelope(&self, op: PurgeOp, soft: bool) -> Envelope {
        let at_ms = crate::clock::unix_nanos() / 1_000_000;
        Envelope::new(&self.node_id, self.epoch, op, soft, true, at_ms)
    }

    /// A purge was queued in the outbox: publish it now.
    pub fn outbox_ready(&self) {
        self.outbox_wake.notify_one();
    }

    /// Has the node read every purge the stream held for it?
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// Should every stored object be treated as soft-purged now? Until the
    /// node has caught up, unless `catch_up = "serve"`.
    pub fn revalidate_all(&self) -> bool {
        self.cfg.catch_up != CatchUp::Serve && !self.caught_up()
    }

    /// Does `/health` say so? Not until caught up under
    /// `catch_up = "unhealthy"`.
    pub fn healthy(&self) -> bool {
        self.cfg.catch_up != CatchUp::Unhealthy || self.caught_up()
    }

    /// How far this node has read the purge stream: every purge up to this
    /// stream sequence is in force here.
    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    /// Fleet members announcing themselves now (this node included).
    pub fn live_nodes(&self) -> usize {
        self.presence.live().len()
    }

    /// Wait until every live node acknowledged this node's purge `id`, for
    /// at most `timeout_ms` (capped by `max_wait_ms`; default
    /// `default_wait_ms`).
    pub async fn wait(&self, id: u64, timeout_ms: Option<u64>) -> FleetWait {
        let ms = timeout_ms
            .unwrap_or(self.cfg.default_wait_ms)
            .min(self.cfg.max_wait_ms);
        let fid = fleet_id(&self.node_id, self.epoch, id);
        self.presence.wait(&fid, Duration::from_millis(ms)).await
    }

    /// The histogram of publish-to-applied times.
    fn observe_propagation(&self, secs: f64) {
        self.propagation.observe(secs);
    }

    fn ack_subject(&self, node: &str) -> String {
        format!("{}.ack.{node}", self.cfg.subject)
    }
}

/// NATS connection options: credentials, name, and endless reconnection
/// (also for the first connection, so a node starts while NATS is down).
async fn connect_options(
    cfg: &FleetConfig,
    node_id: &str,
) -> Result<async_nats::ConnectOptions, FleetError> {
    let mut o = async_nats::ConnectOptions::new();
    if let Some(t) = &cfg.token {
        o = o.token(t.clone());
    }
    if let Some(path) = &cfg.creds_file {
        o = o
            .credentials_file(path)
            .await
            .map_err(|e| FleetError::Credentials {
                field: "creds_file",
                message: format!("{}: {e}", path.display()),
            })?;
    }
    if let Some(path) = &cfg.nkey_seed_file {
        let seed = std::fs::read_to_string(path).map_err(|e| FleetError::Credentials {
            field: "nkey_seed_file",
            message: format!("{}: {e}", path.display()),
        })?;
        o = o.nkey(seed.trim().to_string());
    }
    Ok(o.name(format!("edgecache {node_id}"))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100 * attempts as u64).min(2000))
        }))
}
