//! Turning a client request into a target and an origin: absolute-form vs
//! Host (RFC 9112 §3.2), host validation, and the virtual-host table.

use super::origin_conns::{ConnSettings, Connections, Protocol};
use super::origin_tls::{TlsConfigs, TlsSettings};
use super::pool::{BreakerConfig, Pool};
use crate::config::{Config, parse_origins, vary};
use crate::error::{ProxyError, UpstreamError};
use crate::http_cache::canonical;
use http::{HeaderMap, Uri};
use std::collections::HashMap;
use std::sync::Arc;

/// The scheme of the listener a request came in on: it names the resource
/// (the cache key's scheme) and is what `X-Forwarded-Proto` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// A plaintext listener (HTTP/1.1, h2c).
    Http,
    /// A TLS listener (HTTP/1.1, h2) or HTTP/3.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Where a request is aimed.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http` or `https`: the scheme of the listener the request came in on.
    pub scheme: &'static str,
    /// The authority as sent (lower-cased).
    pub authority: String,
    /// The host part of the authority, without port.
    pub host: String,
    /// Path and query, `/` when empty.
    pub path_and_query: String,
}

/// Derive the target of a request from its URI and Host field.
pub fn target(
    uri: &Uri,
    headers: &HeaderMap,
    version: http::Version,
    scheme: Scheme,
) -> Result<Target, ProxyError> {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let (first_host, second_host) = (hosts.next(), hosts.next());
    if second_host.is_some() {
        return Err(ProxyError::Downstream("more than one Host field".into()));
    }
    let raw = match uri.authority() {
        Some(a) => a.as_str(),
        None => match first_host {
            Some(h) => h
                .to_str()
                .map_err(|_| ProxyError::Downstream("Host is not ASCII".into()))?
                .trim(),
            None if version == http::Version::HTTP_10 => "",
            None => return Err(ProxyError::Downstream("missing Host".into())),
        },
    };
    if !raw.is_empty() && !canonical::valid_authority(raw.as_bytes()) {
        return Err(ProxyError::Downstream(format!("invalid Host `{raw}`")));
    }
    // One spelling per resource (http_cache::canonical): what is keyed is
    // also what the origin receives.
    let mut authority = raw.to_ascii_lowercase();
    let canon = canonical::authority(&authority);
    if matches!(canon, std::borrow::Cow::Owned(_)) || canon.len() != authority.len() {
        authority = canon.into_owned();
    }
    let host = strip_port(&authority).to_string();
    let path_and_query = match uri.path_and_query() {
        Some(pq) if !pq.as_str().is_empty() => canonical::path_and_query(pq.as_str()).into_owned(),
        _ => "/".to_string(),
    };
    if !path_and_query.starts_with('/') && path_and_query != "*" {
        return Err(ProxyError::Downstream(
            "request target must be origin-form or absolute-form".into(),
        ));
    }
    Ok(Target {
        scheme: scheme.as_str(),
        authority,
        host,
        path_and_query,
    })
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split(']')
            .next()
            .map(|s| &authority[..s.len() + 1])
            .unwrap_or(authority);
    }
    authority.rsplit_once(':').map_or(authority, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            authority
        }
    })
}

/// One site: its origin and its per-site overrides of the cache rules.
#[derive(Clone, Debug)]
pub struct Site {
    /// The origin: its servers, balancing, breakers and concurrency limit.
    pub origin: Arc<Pool>,
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
    pub compression: Arc<super::encodings::Rules>,
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
                compression: Arc::new(super::encodings::Rules::new(
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
                    compression: Arc::new(super::encodings::Rules::new(cfg.compression.clone())),
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
    pub fn pools(&self) -> Vec<Arc<Pool>> {
        let mut out: Vec<Arc<Pool>> = Vec::new();
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
    balance: super::pool::Balance,
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
    ) -> Result<Pool, crate::config::ConfigError> {
        let origin_field = match field {
            "upstream" => "origin".to_string(),
            f => format!("{f}.origin"),
        };
        let mut servers = Vec::new();
        for uri in parse_origins(&origin_field, list)? {
            let tls = self.tls.for_server(&uri, tls, protocol, field)?;
            let conns = Connections::new(&uri, self.conn, protocol, tls);
            servers.push((uri, conns));
        }
        Ok(Pool::new(
            servers,
            self.balance,
            self.breaker,
            max_concurrency,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9112 §3.2: absolute-form wins over Host; HTTP/1.1 needs Host.
    #[test]
    fn derives_target() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert("host", v.parse().expect("valid"));
            m
        };
        let t = target(
            &"/a?b".parse().expect("uri"),
            &h("Example.com:8080"),
            http::Version::HTTP_11,
            Scheme::Http,
        )
        .expect("ok");
        assert_eq!(
            (
                t.authority.as_str(),
                t.host.as_str(),
                t.path_and_query.as_str()
            ),
            ("example.com:8080", "example.com", "/a?b")
        );
        let t = target(
            &"http://abs.example/x".parse().expect("uri"),
            &h("other"),
            http::Version::HTTP_11,
            Scheme::Http,
        )
        .expect("ok");
        assert_eq!(t.host, "abs.example");
        assert!(
            target(
                &"/".parse().expect("uri"),
                &HeaderMap::new(),
                http::Version::HTTP_11,
                Scheme::Http,
            )
            .is_err()
        );
        assert!(
            target(
                &"/".parse().expect("uri"),
                &h("bad host"),
                http::Version::HTTP_11,
                Scheme::Http,
            )
            .is_err()
        );
        assert!(
            target(
                &"/".parse().expect("uri"),
                &h("user@host"),
                http::Version::HTTP_11,
                Scheme::Http,
            )
            .is_err()
        );
        let mut two = h("a");
        two.append("host", "b".parse().expect("valid"));
        assert!(
            target(
                &"/".parse().expect("uri"),
                &two,
                http::Version::HTTP_11,
                Scheme::Http
            )
            .is_err()
        );
        assert_eq!(strip_port("[::1]:80"), "[::1]");
    }

    /// The scheme comes from the listener, never from the request: an
    /// absolute-form `http://` target (or an h2 `:scheme`) on a TLS
    /// listener still names the https resource, and vice versa.
    #[test]
    fn scheme_is_the_listeners() {
        let abs = "http://a.example/x".parse().expect("uri");
        let t = target(
            &abs,
            &HeaderMap::new(),
            http::Version::HTTP_11,
            Scheme::Https,
        );
        assert_eq!(t.expect("ok").scheme, "https");
        let abs = "https://a.example/x".parse().expect("uri");
        let t = target(&abs, &HeaderMap::new(), http::Version::HTTP_2, Scheme::Http);
        assert_eq!(t.expect("ok").scheme, "http");
    }
}
