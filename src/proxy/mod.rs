//! The request pipeline: one straight-line async function that sequences
//! named steps. Each step lives in its own file.

pub mod fetch;
pub mod fill;
pub mod forwarding;
pub mod lookup;
pub mod normalize;
pub mod respond;
pub mod revalidate;
pub mod unsafe_method;
pub mod upstream;

use crate::clock;
use crate::config::Config;
use crate::error::ProxyError;
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::decision::{self, Decision, RequestDirectives, StaleServe};
use crate::http_cache::{Policy, key, range};
use crate::server::body::{self, Body};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use lookup::Lookup;
use normalize::Sites;
use std::net::SocketAddr;
use std::sync::Arc;
use storage::Store;
use upstream::Upstream;

/// Everything a request needs: config, store, origin client, routing.
pub struct Node {
    /// The configuration in force.
    pub cfg: Arc<Config>,
    /// The object store.
    pub store: Store,
    /// The origin client.
    pub upstream: Upstream,
    /// Host to origin routing.
    pub sites: Sites,
    /// The caching rules, derived from `cfg.cache`.
    pub policy: Policy,
}

impl Node {
    /// Assemble a node from a validated config and an open store.
    pub fn new(cfg: Config, store: Store) -> Result<Node, crate::config::ConfigError> {
        let sites = Sites::from_config(&cfg)?;
        let policy = Policy {
            targeted_fields: cfg
                .cache
                .targeted_fields
                .iter()
                .map(|f| f.to_ascii_lowercase())
                .collect(),
            surrogate_device: cfg.server.cache_name.clone(),
            heuristic_fraction: cfg.cache.heuristic_fraction,
            heuristic_max_secs: cfg.cache.heuristic_max_secs,
        };
        let upstream = Upstream::new(&cfg.upstream);
        Ok(Node {
            cfg: Arc::new(cfg),
            store,
            upstream,
            sites,
            policy,
        })
    }

    /// The largest body this node stores.
    pub fn max_object_bytes(&self) -> usize {
        (self.cfg.storage.max_object_bytes as usize)
            .min(self.store.max_object_bytes().saturating_sub(64 << 10))
    }
}

/// Handle one request from `client`.
pub async fn handle(node: Arc<Node>, req: Request<Incoming>, client: SocketAddr) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body::boxed(body);

    // 1. Where is it aimed, and which origin serves it?
    let target = match normalize::target(&parts.uri, &parts.headers, parts.version) {
        Ok(t) => t,
        Err(ProxyError::Downstream(msg)) => {
            return respond::error(&node, StatusCode::BAD_REQUEST, &msg, CacheStatus::default());
        }
        Err(ProxyError::Upstream(e)) => {
            return respond::error(&node, e.status(), &e.to_string(), CacheStatus::default());
        }
    };
    let site = match node.sites.site_for(&target.host) {
        Ok(s) => s.clone(),
        Err(e) => {
            let cs = CacheStatus {
                fwd: Some(Fwd::Bypass),
                detail: Some(e.as_str()),
                ..Default::default()
            };
            return respond::error(&node, e.status(), &e.to_string(), cs);
        }
    };

    // 2. Unsafe and other non-cacheable methods go straight through (§4.4 invalidation).
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return unsafe_method::forward(&node, parts, body, &target, &site.origin, client).await;
    }

    // 3. Look the request up.
    let now = clock::now();
    let directives = RequestDirectives::from_headers(&parts.headers, site.honor_request_directives);
    let primary = key::primary(target.scheme, &target.authority, &target.path_and_query);
    let fwd = match lookup::find(&node.store, primary, &parts.headers).await {
        // A stored partial response only answers ranges inside what it holds.
        Lookup::Hit(entry)
            if !range::covers(
                &parts.method,
                &parts.headers,
                &entry.meta,
                entry.body.len() as u64,
            ) =>
        {
            Fwd::Partial
        }
        Lookup::Hit(entry) => {
            // 4. Reuse it, serve it stale, or revalidate it (§4).
            let cs_key = node.cfg.cache.expose_key.then(|| entry.key.to_hex());
            match decision::decide(now, &directives, &entry.meta, &node.policy) {
                Decision::Fresh { age, ttl } => {
                    let cs = CacheStatus {
                        hit: true,
                        ttl: Some(ttl),
                        key: cs_key,
                        ..Default::default()
                    };
                    return respond::cached(&node, &entry, &parts.method, &parts.headers, age, cs);
                }
                Decision::Stale { age, ttl, serve } => {
                    let detail = match serve {
                        StaleServe::MaxStale => "max-stale",
                        StaleServe::WhileRevalidate => {
                            revalidate::in_background(
                                node.clone(),
                                &parts,
                                &target,
                                &site.origin,
                                client,
                                (*entry).clone(),
                            );
                            "stale-while-revalidate"
                        }
                    };
                    let cs = CacheStatus {
                        hit: true,
                        ttl: Some(ttl),
                        key: cs_key,
                        detail: Some(detail),
                        ..Default::default()
                    };
                    return respond::cached(&node, &entry, &parts.method, &parts.headers, age, cs);
                }
                Decision::Revalidate { reason, .. } => {
                    if directives.only_if_cached() {
                        return only_if_cached_miss(&node);
                    }
                    return revalidate::foreground(
                        &node,
                        parts,
                        &target,
                        &site.origin,
                        client,
                        *entry,
                        reason,
                        &directives,
                    )
                    .await;
                }
            }
        }
        Lookup::UriMiss => Fwd::UriMiss,
        Lookup::VaryMiss => Fwd::VaryMiss,
    };

    // 5. Miss: fetch from the origin, storing while streaming.
    if directives.only_if_cached() {
        return only_if_cached_miss(&node);
    }
    fetch::miss(
        &node,
        parts,
        body,
        &target,
        &site.origin,
        client,
        fwd,
        &directives,
    )
    .await
}

/// §5.2.1.7: only-if-cached with nothing usable stored is a 504.
fn only_if_cached_miss(node: &Node) -> Response<Body> {
    let cs = CacheStatus {
        fwd: Some(Fwd::Request),
        detail: Some("only-if-cached"),
        ..Default::default()
    };
    respond::error(
        node,
        StatusCode::GATEWAY_TIMEOUT,
        "only-if-cached and no usable stored response",
        cs,
    )
}
