//! edgecache: a caching CDN node.
//!
//! A request's way through the node:
//! ```text
//! server::listener (HTTP/1.1 + h2c) -> proxy::handle
//!   -> proxy::normalize      target URI, Host, origin for the site
//!   -> http_cache::key       primary key; Vary index -> variant key
//!   -> proxy::lookup         storage::Store (memory + disk)
//!   -> http_cache::decision  Fresh | Stale | Revalidate   (pure RFC 9111)
//!   -> proxy::fetch / proxy::revalidate / proxy::unsafe_method
//!   -> proxy::respond        Age, Via, Cache-Status, client preconditions
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
