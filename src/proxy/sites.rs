//! The virtual-host table: which site (origin and per-site overrides of
//! the cache rules) serves a host, built once per config with its origins
//! and their TLS settings.

use crate::config::{Config, Protocol, parse_origins, vary};
use crate::error::UpstreamError;
use crate::upstream::conn_pool::{ConnPool, ConnSettings};
use crate::upstream::origin::{BreakerConfig, Origin};
use crate::upstream::origin_tls::{TlsConfigs, TlsSettings};
use std::collections::HashMap;
use std::sync::Arc;

/// One site: its origin and its per-site overrides of the cache rules.
#[derive(Clone, Debug)]
pub struct Site {
    /// The origin: its servers, balancing, breakers and concurrency limit.
    pub origin: Arc<Origin>,
    /// Honour request cache directives for this site (overrides `[cache]`).
    pub honor_request_directives: bool,
    /// What to do with responses that set cookies.
    pub set_cookie: crate::http_cache::policy::SetCookie,
    /// Upstream concurrency limit for this site's origin, if set.
    pub max_concurrency: Option<usize>,
    /// This site's WebSocket tunnels (whether allowed, how many are open).
    pub tunnels: Arc<super::tunnel::SiteTunnels>,
    /// Its metrics, under its label.
    pub metrics: Arc<crate::metrics::SiteMetrics>,
    /// Content-coding negotiation: one stored copy, every encoding.
    pub compression: Arc<super::representations::encodings::Rules>,
    /// Whether, and how often, its requests are logged.
    pub log: LogRule,
    /// Its Vary rules, variant cap and origin-purge rule.
    pub vary: Arc<vary::SiteVary>,
}

/// A site's access-log rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogRule {
    /// Log its requests at all.
    pub enabled: bool,
    /// Fraction logged (5xx always are).
    pub sample: f64,
}

/// Host name to site, with a default.
#[derive(Clone, Debug, Default)]
pub struct Sites {
    by_host: HashMap<String, Site>,
    default: Option<Site>,
}

impl Sites {
    /// Build from a validated config. TLS client configurations are built
    /// here, once per site; a CA file that cannot be read is an error.
    pub fn from_config(
        cfg: &Config,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Sites, crate::config::ConfigError> {
        let up = &cfg.upstream;
        let mut origins = Origins {
            balance: up.balance,
            breaker: BreakerConfig {
                failures: up.breaker_failures,
                cooldown: std::time::Duration::from_secs(up.breaker_cooldown_secs),
            },
            conn: ConnSettings {
                connect_timeout: std::time::Duration::from_millis(up.connect_timeout_ms),
                idle_timeout: std::time::Duration::from_secs(up.pool_idle_timeout_secs),
                max_idle: up.pool_max_idle_per_host,
            },
            tls: TlsConfigs::default(),
        };
        let mut by_host = HashMap::new();
        for (i, s) in cfg.sites.iter().enumerate() {
            let tls = TlsSettings {
                ca_file: s.tls_ca_file.clone().or_else(|| up.tls_ca_file.clone()),
                verify: s.tls_verify.unwrap_or(up.tls_verify),
                server_name: s.tls_server_name.clone(),
            };
            let site = Site {
                origin: Arc::new(origins.pool(
                    &format!("sites[{i}]"),
                    &s.origin,
                    s.protocol.unwrap_or(up.protocol),
                    &tls,
                    s.max_concurrency.unwrap_or(up.max_concurrency),
                )?),
                honor_request_directives: s
                    .honor_request_directives
                    .unwrap_or(cfg.cache.honor_request_directives),
                set_cookie: s.set_cookie.unwrap_or(cfg.cache.set_cookie),
                max_concurrency: s.max_concurrency,
                tunnels: super::tunnel::SiteTunnels::new(
                    s.websocket.unwrap_or(cfg.websocket.enabled),
                    cfg.websocket.max_tunnels_per_site,
                ),
                compression: Arc::new(super::representations::encodings::Rules::new(
                    cfg.compression.with(&s.compression),
                )),
                metrics: metrics.site(
                    s.name
                        .as_deref()
                        .or(s.hosts.first().map(String::as_str))
                        .unwrap_or("-"),
                ),
                log: LogRule {
                    enabled: s.access_log.unwrap_or(cfg.access_log.enabled),
                    sample: s.access_log_sample.unwrap_or(cfg.access_log.sample),
                },
                vary: Arc::new(vary::SiteVary::new(&cfg.cache, Some(s))),
            };
            for h in &s.hosts {
                by_host.insert(h.to_ascii_lowercase(), site.clone());
            }
        }
        let default = match cfg.origin.as_deref() {
            Some(o) => {
                let tls = TlsSettings {
                    ca_file: up.tls_ca_file.clone(),
                    verify: up.tls_verify,
                    server_name: None,
                };
                Some(Site {
                    origin: Arc::new(origins.pool(
                        "upstream",
                        o,
                        up.protocol,
                        &tls,
                        up.max_concurrency,
                    )?),
                    honor_request_directives: cfg.cache.honor_request_directives,
                    set_cookie: cfg.cache.set_cookie,
                    max_concurrency: None,
                    tunnels: super::tunnel::SiteTunnels::new(
                        cfg.websocket.enabled,
                        cfg.websocket.max_tunnels_per_site,
                    ),
                    compression: Arc::new(super::representations::encodings::Rules::new(
                        cfg.compression.clone(),
                    )),
                    metrics: metrics.site("default"),
                    log: LogRule {
                        enabled: cfg.access_log.enabled,
                        sample: cfg.access_log.sample,
                    },
                    vary: Arc::new(vary::SiteVary::new(&cfg.cache, None)),
                })
            }
            None => None,
        };
        Ok(Sites { by_host, default })
    }

    /// The site serving `host`.
    pub fn site_for(&self, host: &str) -> Result<&Site, UpstreamError> {
        self.by_host
            .get(host)
            .or(self.default.as_ref())
            .ok_or_else(|| UpstreamError::NoOrigin(host.to_string()))
    }

    /// Every distinct origin pool.
    pub fn pools(&self) -> Vec<Arc<Origin>> {
        let mut out: Vec<Arc<Origin>> = Vec::new();
        for site in self.by_host.values().chain(self.default.iter()) {
            if !out.iter().any(|p| Arc::ptr_eq(p, &site.origin)) {
                out.push(site.origin.clone());
            }
        }
        out
    }
}

/// What building every origin pool shares.
struct Origins {
    balance: crate::config::Balance,
    breaker: BreakerConfig,
    conn: ConnSettings,
    tls: TlsConfigs,
}

impl Origins {
    /// The pool for origin `list` of the site named `field`.
    fn pool(
        &mut self,
        field: &str,
        list: &str,
        protocol: Protocol,
        tls: &TlsSettings,
        max_concurrency: usize,
    ) -> Result<Origin, crate::config::ConfigError> {
        let origin_field = match field {
            "upstream" => "origin".to_string(),
            f => format!("{f}.origin"),
        };
        let mut servers = Vec::new();
        for uri in parse_origins(&origin_field, list)? {
            let tls = self.tls.for_server(&uri, tls, protocol, field)?;
            let conns = ConnPool::new(&uri, self.conn, protocol, tls);
            servers.push((uri, conns));
        }
        Ok(Origin::new(
            servers,
            self.balance,
            self.breaker,
            max_concurrency,
        ))
    }
}
