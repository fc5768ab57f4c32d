//! The purge API: an axum router that invalidates cached content by surrogate
//! key, URL, URL prefix or whole host, softly (mark stale) or hard (make it a
//! miss), for callers holding a bearer token scoped to a set of hosts.
//!
//! The router does not know how purges are carried out: the node implements
//! [`Purger`]. Every route answers JSON; every error has the same shape
//! (`{"error": {"status", "code", "message"}}`), and bad input is a 400, never
//! a 500.

mod auth;
mod error;
mod input;
mod routes;

pub use auth::{Token, Tokens};
pub use error::ApiError;
pub use routes::{ROUTES, router};

/// What a purge does to what it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Mark stale: revalidated on next use; stale-while-revalidate and
    /// stale-if-error still apply.
    Soft,
    /// Make it a miss.
    Hard,
}

/// The node side of the API. Each call must be durable before it returns
/// `Ok`, and returns the purge id. Calls may block on disk I/O: the router
/// makes them on tokio's blocking threads, never on an async worker.
pub trait Purger: Send + Sync + 'static {
    /// Purge surrogate `keys` within `hosts` (`"*"`: every host).
    fn purge_keys(&self, hosts: &[String], keys: &[String], mode: Mode) -> Result<u64, String>;
    /// Purge one URL (every variant of it) on `host`.
    fn purge_url(&self, host: &str, path_and_query: &str, mode: Mode) -> Result<u64, String>;
    /// Purge every URL on `host` whose path starts with `prefix`.
    fn purge_prefix(&self, host: &str, prefix: &str, mode: Mode) -> Result<u64, String>;
    /// Purge everything cached for `host`.
    fn purge_all(&self, host: &str, mode: Mode) -> Result<u64, String>;
    /// Does this node serve `host`?
    fn serves_host(&self, host: &str) -> bool;
    /// Is this node in a fleet (so `?wait=fleet` can be asked)?
    fn in_fleet(&self) -> bool {
        false
    }
    /// Wait until every live node of the fleet has applied purge `id`
    /// (made by this node), for at most `timeout_ms` (`None`: the node's
    /// default). `Err` when the node is not in a fleet.
    fn wait_fleet(&self, id: u64, timeout_ms: Option<u64>) -> FleetWaitFuture {
        let _ = (id, timeout_ms);
        Box::pin(async {
            Err("this node is not in a fleet ([fleet] servers is empty)".to_string())
        })
    }
}

/// What [`Purger::wait_fleet`] returns.
pub type FleetWaitFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<FleetWait, String>> + Send>>;

/// Which nodes of the fleet applied a purge in time.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct FleetWait {
    /// Nodes that acknowledged it (this node included).
    pub acked: Vec<String>,
    /// Live nodes that did not acknowledge it in time.
    pub timed_out: Vec<String>,
    /// Known nodes not heard from lately: they apply it when they return,
    /// before they serve from cache (see docs/fleet.md).
    pub down: Vec<String>,
    /// Milliseconds waited (to 0.01 ms).
    pub waited_ms: f64,
}

/// Router configuration.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Accepted bearer tokens.
    pub tokens: Tokens,
    /// Most keys in one request (400 beyond).
    pub max_batch: usize,
    /// Most hosts one key purge may name (400 beyond).
    pub max_hosts: usize,
    /// Longest key accepted, in bytes (400 beyond).
    pub max_key_bytes: usize,
    /// Largest request body read, in bytes (413 beyond; the body is read
    /// only after the token is checked).
    pub max_body_bytes: usize,
}
