//! edgecache: a caching CDN node.
//!
//! The rooms and their layers are drawn in docs/architecture.md (checked by
//! scripts/layers.sh). A request's way through the node:
//! ```text
//! server::listener (HTTP/1.1, h2c) / TLS / h3 -> server::front_end
//!   -> proxy::handle          the pipeline, one step per file:
//!   -> target, proxy::sites   target URI, Host, the site and its origin
//!   -> http_cache::key        primary key; Vary index -> variant key
//!   -> proxy::lookup          storage::Store (memory + disk)
//!   -> http_cache::decision   Fresh | Stale | Revalidate   (pure RFC 9111)
//!   -> proxy::fetch / revalidate / unsafe_method -> upstream (origins)
//!   -> proxy::respond         Age, Via, Cache-Status, client preconditions
//!   -> server::observe        metrics, access log, span when the body ends
//! ```

pub mod access_log;
pub mod body;
pub mod cidr;
pub mod clock;
pub mod config;
pub mod error;
pub mod fleet;
pub mod http_cache;
pub mod live;
pub mod metrics;
pub mod node;
pub mod proxy;
pub mod purge;
pub mod random;
pub mod server;
pub mod services;
pub mod target;
pub mod tls;
pub mod trace;
pub mod upstream;
pub mod write_through;
