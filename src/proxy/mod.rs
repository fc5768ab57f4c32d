//! The request pipeline: one straight-line async function that sequences
//! named steps. Each step lives in its own file.

pub mod chunked_body;
pub mod collapse;
pub mod exchange;
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
use crate::http_cache::conditional::{self, Precondition};
use crate::http_cache::decision::{self, Decision, StaleServe};
use crate::http_cache::storable::NoCacheReason;
use crate::http_cache::surrogate::{self, KeyField, KeyLimits};
use crate::http_cache::{Policy, admission, key, range, vary};
use crate::body::{self, Body};
use collapse::{Collapser, Flight, Join};
use exchange::Exchange;
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
    /// Unkeyed request fields removed before forwarding (the built-in list
    /// minus `upstream.forward_fields`).
    pub strip_request_fields: Vec<http::HeaderName>,
    /// `upstream.forward_fields`, lower-case: forwarded, and part of every key.
    pub keyed_fields: Vec<String>,
    /// Proxies whose X-Forwarded-Proto and Forwarded are passed on.
    pub trusted_proxies: Vec<crate::cidr::Cidr>,
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
        let keyed_fields: Vec<String> = cfg
            .upstream
            .forward_fields
            .iter()
            .map(|f| f.to_ascii_lowercase())
            .collect();
        let strip_request_fields = forwarding::UNKEYED_REQUEST_FIELDS
            .iter()
            .filter(|f| !keyed_fields.iter().any(|k| k == *f))
            .map(|f| http::HeaderName::from_static(f))
            .collect();
        let trusted_proxies = cfg
            .upstream
            .trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, c)| {
                crate::cidr::Cidr::parse(c).map_err(|m| crate::config::ConfigError::Invalid {
                    field: format!("upstream.trusted_proxies[{i}]"),
                    message: m,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Node {
            strip_request_fields,
            keyed_fields,
            trusted_proxies,
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

    /// Is `ip` a trusted proxy (its X-Forwarded-Proto and Forwarded kept)?
    pub fn trusts_proxy(&self, ip: std::net::IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(ip))
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
            return respond::upstream_error(&node, &e, CacheStatus::default());
        }
    };
    let site = match node.sites.site_for(&target.host) {
        Ok(s) => s.clone(),
        Err(e) => {
            let cs = CacheStatus {
                fwd: Some(Fwd::Bypass),
                ..Default::default()
            };
            return respond::upstream_error(&node, &e, cs);
        }
    };

    // 2. `PURGE <url>` from an allowed network, when turned on.
    if parts.method.as_str() == "PURGE" {
        return purge_method::handle(&node, &parts, &target, client).await;
    }
    let ex = Exchange::new(node, parts, target, site, client);
    let node = &ex.node;

    // 3. Unsafe and other non-cacheable methods go straight through (§4.4
    //    invalidation); so does a GET or HEAD with a body, never stored nor
    //    served from the cache.
    if ex.parts.method != Method::GET && ex.parts.method != Method::HEAD {
        return unsafe_method::forward(&ex, body).await;
    }
    if ex.has_body() {
        return fetch::pass(&ex, body, NoCacheReason::RequestBody).await;
    }

    // 4. Look the request up. Hit-for-pass: nothing storable came for this
    //    URL lately, so nothing is stored for it (a storable response clears
    //    the mark).
    let now = clock::now();
    let found = if node.collapser.passing(&ex.primary, clock::instant()) {
        Lookup::UriMiss
    } else {
        lookup::find(node, ex.primary, &ex.parts.headers).await
    };
    let mut vary_names = Vec::new();
    let purge = match &found {
        Lookup::Hit(entry) => purged(node, &ex.target, entry),
        _ => Purged::No,
    };
    let fwd = match found {
        // A stored partial response only answers ranges inside what it holds.
        Lookup::Hit(entry)
            if !range::covers(
                &ex.parts.method,
                &ex.parts.headers,
                &entry.meta,
                entry.body.len(),
            ) =>
        {
            Fwd::Partial
        }
        // A hard purge since it was fetched makes it a miss (and frees it).
        Lookup::Hit(entry) if purge == Purged::Hard => {
            node.store.remove(&entry.key);
            Fwd::Miss
        }
        Lookup::Hit(entry) => {
            // 5. Reuse it, serve it stale, or revalidate it (§4); a soft purge makes it stale.
            let cs_key = node.cfg.cache.expose_key.then(|| entry.key.to_hex());
            let mut decision =
                decision::decide_with(now, &ex.directives, &entry.meta, &entry.facts);
            if purge == Purged::Soft {
                decision = decision::soft_purged(decision, &entry.meta, &node.policy);
            }
            let (age, ttl, detail) = match decision {
                Decision::Fresh { age, ttl } => (age, ttl, None),
                Decision::Stale { age, ttl, serve } => {
                    let detail = match serve {
                        StaleServe::MaxStale => "max-stale",
                        StaleServe::WhileRevalidate => {
                            revalidate::in_background(&ex, (*entry).clone());
                            "stale-while-revalidate"
                        }
                    };
                    (age, ttl, Some(detail))
                }
                Decision::Revalidate { reason, .. } => {
                    if ex.directives.only_if_cached() {
                        return only_if_cached_miss(node);
                    }
                    return revalidate::foreground(&ex, *entry, reason).await;
                }
            };
            let cs = CacheStatus {
                hit: true,
                ttl: Some(ttl),
                key: cs_key,
                detail,
                ..Default::default()
            };
            let (method, headers) = (&ex.parts.method, &ex.parts.headers);
            return respond::cached_owned(node, *entry, method, headers, age, cs);
        }
        Lookup::UriMiss => Fwd::UriMiss,
        Lookup::VaryMiss(names) => {
            vary_names = names;
            Fwd::VaryMiss
        }
    };

    // 6. Miss: fetch from the origin, storing while streaming.
    if ex.directives.only_if_cached() {
        return only_if_cached_miss(node);
    }
    // 7. Collapse concurrent misses for the same variant into one origin request.
    let mut leader = None;
    if collapsible(&ex) {
        let key = if vary_names.is_empty() {
            ex.primary
        } else {
            key::variant(&ex.primary, &vary::selected(&vary_names, &ex.parts.headers))
        };
        match node.collapser.join(key, clock::instant()) {
            Join::Lead(l) => leader = Some(l),
            Join::Follow(flight) => {
                if let Some(resp) = follow(&ex, &flight, fwd).await {
                    return resp;
                }
            }
            Join::Alone => {}
        }
    }
    fetch::miss(&ex, body, fwd, leader).await
}

/// GETs and HEADs collapse; ranges and `no-store` requests go alone.
/// (Preconditions are fine: a follower answers its own, as a hit does.)
fn collapsible(ex: &Exchange) -> bool {
    !ex.directives.no_store() && !conditional::has_range(&ex.parts.headers)
}

/// Wait for the leader's response and answer from it as a hit on the stored
/// copy would be answered: only when this request accepts it without
/// validation (its variant, its directives), with its own preconditions
/// evaluated. `None`: go upstream alone (timeout, not shareable, another
/// variant, or the flight is too far along to join).
async fn follow(ex: &Exchange, flight: &Arc<Flight>, fwd: Fwd) -> Option<Response<Body>> {
    let node = &ex.node;
    let head = flight.wait_head(node.collapser.wait_timeout).await?;
    let (method, request) = (&ex.parts.method, &ex.parts.headers);
    let Decision::Fresh { age, ttl } = admission::waiter_may_use(
        clock::now(),
        request,
        &ex.directives,
        &head.meta,
        &node.policy,
    )?
    else {
        return None;
    };
    let cs = CacheStatus {
        fwd: Some(fwd),
        fwd_status: Some(head.meta.status.as_u16()),
        ttl: Some(ttl),
        collapsed: true,
        ..Default::default()
    };
    let body = match conditional::evaluate(method, request, &head.meta) {
        Precondition::Failed => {
            let failed = StatusCode::PRECONDITION_FAILED;
            return Some(respond::error(node, failed, "precondition failed", cs));
        }
        Precondition::NotModified => {
            let mut headers = head.meta.headers.clone();
            for h in &conditional::NOT_IN_304 {
                headers.remove(h);
            }
            headers.insert(http::header::AGE, http::HeaderValue::from(age));
            let version = http::Version::HTTP_11;
            let status = StatusCode::NOT_MODIFIED;
            return Some(respond::finish(
                node,
                status,
                headers,
                body::empty(),
                &cs,
                version,
            ));
        }
        Precondition::Pass if *method == Method::HEAD => body::empty(),
        Precondition::Pass => body::boxed(flight.reader()?),
    };
    let mut headers = head.meta.headers.clone();
    headers.insert(http::header::AGE, http::HeaderValue::from(age));
    Some(respond::finish(
        node,
        head.meta.status,
        headers,
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
