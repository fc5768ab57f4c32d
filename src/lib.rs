//! edgecache: a caching CDN node.
//!
//! ```text
//! server::listener -> proxy::handle -> http_cache (pure RFC 9111 rules)
//!                                   -> storage::Store (memory + disk)
//!                                   -> proxy::upstream (pooled origin client)
//! ```

pub mod http_cache;
