//! The pipeline as one config builds it: the config in force, the site
//! table, the caching policy, the origin client, the collapsing table and
//! the other tables a request needs, plus the process's services. Built
//! once per config; a reload builds a new one (`live`).

use super::collapse::Collapser;
use super::forwarding;
use super::sites::Sites;
use crate::config::Config;
use crate::http_cache::Policy;
use crate::http_cache::surrogate::{self, KeyField, KeyLimits};
use crate::services::Services;
use crate::upstream::Upstream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Everything a request needs: config, routing, policy, tables, services.
pub struct Pipeline {
    /// The process's services (store, purge state, metrics, logs...).
    pub services: Services,
    /// The configuration in force.
    pub cfg: Arc<Config>,
    /// Sizes of objects fetched in slices, and the slice fetch locks.
    pub slices: super::representations::slices::SliceIndex,
    /// Held while a form in another content coding is made, so that
    /// concurrent first requests for it make it once.
    pub forms_making: super::keyed_locks::KeyedLocks,
    /// The origin client.
    pub upstream: Upstream,
    /// Host to origin routing.
    pub sites: Sites,
    /// The caching rules, derived from `cfg.cache`.
    pub policy: Policy,
    /// Distinguishes this pipeline (its policy and config) from earlier ones, for
    /// the reuse facts and heads cached on stored objects.
    pub policy_generation: u64,
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
    /// The metrics of requests that match no site.
    pub unrouted: Arc<crate::metrics::SiteMetrics>,
    /// The access-log rule of requests that match no site.
    pub unrouted_log: super::sites::LogRule,
    /// Is any request logged (the global switch, or any site's)?
    pub logs_any: bool,
    /// Tiered caching: the peers and the CDN-Loop rules (`None`: off).
    pub tier: Option<Arc<super::tier::Tier>>,
}

impl Pipeline {
    /// Assemble the pipeline of a validated config, with the process's services.
    pub fn new(cfg: Config, services: Services) -> Result<Pipeline, crate::config::ConfigError> {
        let sites = Sites::from_config(&cfg, &services.metrics)?;
        // Requests that match no site.
        let unrouted = services.metrics.site("-");
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
        let upstream = Upstream::new(&cfg.upstream, services.upstream_counters.clone());
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
                    .filter(|f| {
                        !cfg.cache
                            .forward_targeted_fields
                            .iter()
                            .any(|k| k.eq_ignore_ascii_case(f))
                    })
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
        let unrouted_log = super::sites::LogRule {
            enabled: cfg.access_log.enabled,
            sample: cfg.access_log.sample,
        };
        let logs_any =
            cfg.access_log.enabled || cfg.sites.iter().any(|s| s.access_log == Some(true));
        let tier = super::tier::Tier::from_config(&cfg).map(Arc::new);
        Ok(Pipeline {
            services,
            tier,
            logs_any,
            unrouted,
            unrouted_log,
            strip_request_fields,
            keyed_fields,
            trusted_proxies,
            surrogate_capability,
            cfg: Arc::new(cfg),
            upstream,
            sites,
            policy,
            policy_generation: {
                static GENERATION: std::sync::atomic::AtomicU64 =
                    std::sync::atomic::AtomicU64::new(0);
                GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            strip_downstream,
            via_11,
            key_fields,
            key_limits,
            surrogate_key_overflow: AtomicU64::new(0),
            purge_cidrs,
            collapser,
            slices: Default::default(),
            forms_making: Default::default(),
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

    /// The largest body stored.
    pub fn max_object_bytes(&self) -> u64 {
        self.cfg.storage.max_object_bytes
    }

    /// Bodies longer than this are stored in chunks of this size.
    pub fn chunk_bytes(&self) -> usize {
        (self.cfg.storage.chunk_bytes as usize).min(
            self.services
                .store
                .max_object_bytes()
                .saturating_sub(64 << 10),
        )
    }
}
