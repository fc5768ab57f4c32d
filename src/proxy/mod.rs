//! The request pipeline: one straight-line async function that sequences
//! named steps. Each step lives in its own file.

pub mod chunked_body;
pub mod collapse;
pub mod fetch;
pub mod fill;
pub mod forwarding;
pub mod lookup;
pub mod normalize;
pub mod origin_conns;
pub mod pool;
pub mod purge_method;
pub mod respond;
pub mod revalidate;
pub mod timed_body;
pub mod unsafe_method;
pub mod upstream;

use crate::clock;
use crate::config::Config;
use crate::error::ProxyError;
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::decision::{self, Decision, RequestDirectives, StaleServe};
use crate::http_cache::surrogate::{self, KeyField, KeyLimits};
use crate::http_cache::{Policy, key, range, vary};
use crate::server::body::{self, Body};
use collapse::{Collapser, Flight, Join};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use lookup::Lookup;
use normalize::Sites;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use storage::{Purged, Store};
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
    /// Distinguishes this node (its policy and config) from earlier ones, for
    /// the reuse facts and heads cached on stored objects.
    pub policy_generation: u64,
    /// Durable purge state (surrogate-key generations and bans).
    pub purge: Arc<storage::PurgeStore>,
    /// Fields that carry surrogate keys, and their limits.
    key_fields: Vec<KeyField>,
    key_limits: KeyLimits,
    /// Surrogate keys dropped for breaking the limits.
    pub surrogate_key_overflow: AtomicU64,
    /// Networks allowed to send `PURGE` on the public listener.
    pub purge_cidrs: Vec<crate::cidr::Cidr>,
    /// Request collapsing and background-refresh deduplication.
    pub collapser: Arc<Collapser>,
    /// Fields removed from every response sent downstream (targeted and
    /// surrogate-key fields, as configured), parsed once.
    pub strip_downstream: Vec<http::HeaderName>,
    /// `Via: 1.1 <cache_name>`, built once.
    pub via_11: http::HeaderValue,
    /// `<device>="Surrogate/1.0"` for Surrogate-Capability, sent upstream
    /// when `surrogate-control` is a targeted field.
    pub surrogate_capability: Option<http::HeaderValue>,
}

impl Node {
    /// Assemble a node from a validated config and an open store.
    pub fn new(
        cfg: Config,
        store: Store,
        purge: Arc<storage::PurgeStore>,
    ) -> Result<Node, crate::config::ConfigError> {
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
        let key_fields: Vec<KeyField> = cfg
            .purge
            .key_fields
            .iter()
            .map(|f| KeyField {
                name: f.name.to_ascii_lowercase(),
                separator: f.separator.chars().next().unwrap_or(' '),
            })
            .collect();
        let purge_cidrs = cfg
            .purge
            .public_purge_cidrs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                crate::cidr::Cidr::parse(c).map_err(|m| crate::config::ConfigError::Invalid {
                    field: format!("purge.public_purge_cidrs[{i}]"),
                    message: m,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let collapser = Collapser::new(
            std::time::Duration::from_millis(cfg.cache.collapse_timeout_ms),
            std::time::Duration::from_secs(cfg.cache.hit_for_pass_secs),
            // What a flight keeps for late joiners; past it they go upstream.
            (cfg.storage.max_object_bytes as usize).clamp(1 << 20, 16 << 20),
        );
        let key_limits = KeyLimits {
            max_keys: cfg.purge.max_keys_per_object,
            max_len: cfg.purge.max_key_bytes,
        };
        let mut strip_downstream = Vec::new();
        if cfg.cache.strip_targeted_fields {
            strip_downstream.extend(
                cfg.cache
                    .targeted_fields
                    .iter()
                    .filter_map(|f| http::HeaderName::from_bytes(f.as_bytes()).ok()),
            );
        }
        if cfg.purge.strip_key_fields {
            strip_downstream.extend(
                key_fields
                    .iter()
                    .filter_map(|f| http::HeaderName::from_bytes(f.name.as_bytes()).ok()),
            );
        }
        let via_11 = http::HeaderValue::from_str(&format!("1.1 {}", cfg.server.cache_name))
            .unwrap_or(http::HeaderValue::from_static("1.1 edgecache"));
        let surrogate_capability = policy
            .targeted_fields
            .iter()
            .any(|f| f == crate::http_cache::targeted::SURROGATE_CONTROL)
            .then(|| {
                http::HeaderValue::from_str(&format!(
                    "{}=\"Surrogate/1.0\"",
                    policy.surrogate_device
                ))
                .ok()
            })
            .flatten();
        Ok(Node {
            surrogate_capability,
            cfg: Arc::new(cfg),
            store,
            upstream,
            sites,
            policy,
            policy_generation: {
                static GENERATION: std::sync::atomic::AtomicU64 =
                    std::sync::atomic::AtomicU64::new(0);
                GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            purge,
            strip_downstream,
            via_11,
            key_fields,
            key_limits,
            surrogate_key_overflow: AtomicU64::new(0),
            purge_cidrs,
            collapser,
        })
    }

    /// The surrogate keys of a response, counting any dropped for the limits.
    pub fn surrogate_keys(&self, headers: &http::HeaderMap) -> Vec<String> {
        let found = surrogate::keys(headers, &self.key_fields, self.key_limits);
        if found.overflow > 0 {
            self.surrogate_key_overflow
                .fetch_add(found.overflow as u64, Ordering::Relaxed);
        }
        found.keys
    }

    /// The largest body this node stores.
    pub fn max_object_bytes(&self) -> u64 {
        self.cfg.storage.max_object_bytes
    }

    /// Bodies longer than this are stored in chunks of this size.
    pub fn chunk_bytes(&self) -> usize {
        (self.cfg.storage.chunk_bytes as usize)
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

    // 2. `PURGE <url>` from an allowed network, when turned on.
    if parts.method.as_str() == "PURGE" {
        return purge_method::handle(&node, &parts, &target, client).await;
    }

    // 3. Unsafe and other non-cacheable methods go straight through (§4.4 invalidation).
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return unsafe_method::forward(&node, parts, body, &target, &site.origin, client).await;
    }

    // 3. Look the request up.
    let now = clock::now();
    let directives = RequestDirectives::from_headers(&parts.headers, site.honor_request_directives);
    let primary = key::primary(target.scheme, &target.authority, &target.path_and_query);
    // Hit-for-pass: nothing storable came for this URL lately, so nothing
    // is stored for it (a storable response clears the mark).
    let found = if node.collapser.passing(&primary, clock::instant()) {
        Lookup::UriMiss
    } else {
        lookup::find(&node, primary, &parts.headers).await
    };
    let mut vary_names = Vec::new();
    let purge = match &found {
        Lookup::Hit(entry) => purged(&node, &target, entry),
        _ => Purged::No,
    };
    let fwd = match found {
        // A stored partial response only answers ranges inside what it holds.
        Lookup::Hit(entry)
            if !range::covers(&parts.method, &parts.headers, &entry.meta, entry.body.len()) =>
        {
            Fwd::Partial
        }
        // A hard purge since it was fetched makes it a miss (and frees it).
        Lookup::Hit(entry) if purge == Purged::Hard => {
            node.store.remove(&entry.key);
            Fwd::Miss
        }
        Lookup::Hit(entry) => {
            // 4. Reuse it, serve it stale, or revalidate it (§4); a soft purge makes it stale.
            let cs_key = node.cfg.cache.expose_key.then(|| entry.key.to_hex());
            let mut decision = decision::decide_with(now, &directives, &entry.meta, &entry.facts);
            if purge == Purged::Soft {
                decision = decision::soft_purged(decision, &entry.meta, &node.policy);
            }
            let (age, ttl, detail) = match decision {
                Decision::Fresh { age, ttl } => (age, ttl, None),
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
                    (age, ttl, Some(detail))
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
            };
            let cs = CacheStatus {
                hit: true,
                ttl: Some(ttl),
                key: cs_key,
                detail,
                ..Default::default()
            };
            return respond::cached_owned(&node, *entry, &parts.method, &parts.headers, age, cs);
        }
        Lookup::UriMiss => Fwd::UriMiss,
        Lookup::VaryMiss(names) => {
            vary_names = names;
            Fwd::VaryMiss
        }
    };

    // 5. Miss: fetch from the origin, storing while streaming.
    if directives.only_if_cached() {
        return only_if_cached_miss(&node);
    }
    // 6. Collapse concurrent misses for the same variant into one origin request.
    let mut leader = None;
    if collapsible(&parts, &directives) {
        let key = if vary_names.is_empty() {
            primary
        } else {
            key::variant(&primary, &vary::selected(&vary_names, &parts.headers))
        };
        match node.collapser.join(key, clock::instant()) {
            Join::Lead(l) => leader = Some(l),
            Join::Follow(flight) => {
                if let Some(resp) = follow(&node, &flight, &parts, fwd).await {
                    return resp;
                }
            }
            Join::Alone => {}
        }
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
        leader,
    )
    .await
}

/// Plain GETs collapse; ranges, conditionals and `no-store` requests go alone.
fn collapsible(parts: &http::request::Parts, directives: &RequestDirectives) -> bool {
    parts.method == Method::GET
        && !directives.no_store()
        && !parts.headers.contains_key(http::header::RANGE)
        && !parts.headers.contains_key(http::header::IF_NONE_MATCH)
        && !parts.headers.contains_key(http::header::IF_MODIFIED_SINCE)
}

/// Wait for the leader's response and stream it; `None` to go upstream alone
/// (timeout, uncacheable, or another variant).
async fn follow(
    node: &Node,
    flight: &Arc<Flight>,
    parts: &http::request::Parts,
    fwd: Fwd,
) -> Option<Response<Body>> {
    let head = flight.wait_head(node.collapser.wait_timeout).await?;
    if !head.variant.is_empty() && !vary::matches(&head.variant, &parts.headers) {
        return None;
    }
    let reader = flight.reader()?;
    let cs = CacheStatus {
        fwd: Some(fwd),
        fwd_status: Some(head.status.as_u16()),
        ttl: Some(head.ttl),
        collapsed: true,
        ..Default::default()
    };
    let body = if parts.method == Method::HEAD {
        body::empty()
    } else {
        body::boxed(reader)
    };
    Some(respond::finish(
        node,
        head.status,
        head.headers.clone(),
        body,
        &cs,
        http::Version::HTTP_11,
    ))
}

/// Has `entry` been purged since it was fetched? Purges are scoped by host.
fn purged(node: &Node, target: &normalize::Target, entry: &lookup::Entry) -> Purged {
    node.purge.check(
        &target.host,
        &target.path_and_query,
        &entry.meta.surrogate_keys,
        entry.meta.purge_seq,
    )
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
