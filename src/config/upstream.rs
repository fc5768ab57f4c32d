//! `[upstream]`: how the node talks to origins, and origin addresses.

use super::{ConfigError, invalid};
use serde::Deserialize;
use std::path::PathBuf;

/// `[upstream]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// TCP connect timeout in milliseconds. Default: 3000.
    pub connect_timeout_ms: u64,
    /// Time to the response head in milliseconds; 504 after. Default: 30000.
    pub first_byte_timeout_ms: u64,
    /// Longest gap between two body chunks from the origin, in milliseconds;
    /// the response is then cut and not stored. 0 turns it off. Default: 30000.
    pub idle_timeout_ms: u64,
    /// Longest whole origin exchange (head and body), in milliseconds. 0 turns
    /// it off. Default: 0 (off: large objects may take long).
    pub total_timeout_ms: u64,
    /// Most requests in flight to one origin at once (per-tenant isolation,
    /// so a slow origin cannot take every connection); 0 is unlimited.
    /// `[[sites]] max_concurrency` overrides it per site. Default: 0.
    pub max_concurrency: usize,
    /// How long a request may queue for an origin's concurrency slot before
    /// it gets 503 with Retry-After (or a stale copy). Default: 1000.
    pub queue_timeout_ms: u64,
    /// Retries of a bodiless idempotent request (GET, HEAD, OPTIONS...) after
    /// a connection failure before any response byte, with exponential
    /// backoff and jitter. Default: 1.
    pub retries: u32,
    /// Retries may add at most this percentage to origin load (a budget
    /// refilled by ordinary requests). Default: 20.
    pub retry_budget_percent: u64,
    /// How requests spread over an origin's servers: `least_outstanding`
    /// (power of two choices) or `round_robin`. Default: `least_outstanding`.
    pub balance: Balance,
    /// Consecutive failures (connect errors, timeouts, 5xx) that open a
    /// server's circuit breaker. Default: 5.
    pub breaker_failures: u32,
    /// Seconds an open breaker refuses requests before one probe is let
    /// through (a success closes it). Default: 10.
    pub breaker_cooldown_secs: u64,
    /// Path for active health checks of every origin server (a non-5xx
    /// answer within 2 s is healthy); none disables them. Default: none.
    pub health_check_path: Option<String>,
    /// Seconds between active health checks. Default: 5.
    pub health_check_interval_secs: u64,
    /// Seconds an idle pooled connection is kept: below the origin's own
    /// keep-alive timeout (Node.js and Apache close after 5 s). Default: 4.
    pub pool_idle_timeout_secs: u64,
    /// Idle pooled connections kept per origin server. Default: 256.
    pub pool_max_idle_per_host: usize,
    /// Send the client's Host upstream (else the origin's authority). Default: true.
    pub preserve_host: bool,
    /// Append the client address to X-Forwarded-For. Default: true.
    pub x_forwarded_for: bool,
    /// Set X-Forwarded-Proto to the client's scheme. Default: true.
    pub x_forwarded_proto: bool,
    /// Request fields forwarded to the origin although they are normally
    /// removed as unkeyed (X-Forwarded-Host, X-Original-URL, ... : the list
    /// is in docs/security.md). Each one named here also joins the cache
    /// key, as if every response varied on it. Default: `[]`.
    pub forward_fields: Vec<String>,
    /// Networks (CIDR) of proxies in front of this node whose
    /// X-Forwarded-Proto and Forwarded fields are passed on; from any other
    /// client they are removed and the node sets X-Forwarded-Proto itself.
    /// Default: `[]`.
    pub trusted_proxies: Vec<String>,
    /// How the node speaks to origins: `http1` (HTTP/1.1), `h2c` (HTTP/2
    /// with prior knowledge, plaintext `http://` origins only) or `h2`
    /// (HTTP/2 over TLS chosen by ALPN, `https://` origins only; falls back
    /// to HTTP/1.1 when the origin does not offer h2). `[[sites]] protocol`
    /// overrides it. Default: `http1`.
    pub protocol: Protocol,
    /// PEM file of CA certificates trusted for `https://` origins, instead
    /// of the system roots. `[[sites]] tls_ca_file` overrides it. Default:
    /// none (the system roots).
    pub tls_ca_file: Option<PathBuf>,
    /// Check `https://` origins' certificates (chain and name). `false`
    /// accepts any certificate (a loud warning is logged per origin at
    /// start-up); `[[sites]] tls_verify` overrides it. Default: true.
    pub tls_verify: bool,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            connect_timeout_ms: 3000,
            first_byte_timeout_ms: 30_000,
            idle_timeout_ms: 30_000,
            max_concurrency: 0,
            queue_timeout_ms: 1000,
            retries: 1,
            retry_budget_percent: 20,
            balance: Balance::LeastOutstanding,
            forward_fields: Vec::new(),
            trusted_proxies: Vec::new(),
            breaker_failures: 5,
            breaker_cooldown_secs: 10,
            health_check_path: None,
            health_check_interval_secs: 5,
            total_timeout_ms: 0,
            pool_idle_timeout_secs: 4,
            pool_max_idle_per_host: 256,
            preserve_host: true,
            x_forwarded_for: true,
            x_forwarded_proto: true,
            protocol: Protocol::Http1,
            tls_ca_file: None,
            tls_verify: true,
        }
    }
}

/// Parse an origin: one `http(s)://host[:port]`, or several separated by commas
/// (a pool of servers).
pub fn parse_origins(field: &str, list: &str) -> Result<Vec<http::Uri>, ConfigError> {
    let servers = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_origin(field, s))
        .collect::<Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err(invalid(field, "names no server"));
    }
    Ok(servers)
}

/// Check that `url` is an origin the node can use: `http://host[:port]` or
/// `https://host[:port]`, with no path.
pub fn parse_origin(field: &str, url: &str) -> Result<http::Uri, ConfigError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| invalid(field, format!("`{url}` is not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(invalid(
                field,
                format!("scheme `{other}` is not supported; use http:// or https://"),
            ));
        }
        None => {
            return Err(invalid(
                field,
                format!("`{url}` needs a scheme, e.g. http://{url}"),
            ));
        }
    }
    if uri.authority().is_none() {
        return Err(invalid(field, format!("`{url}` has no host")));
    }
    if uri
        .path_and_query()
        .is_some_and(|pq| pq.as_str() != "/" && !pq.as_str().is_empty())
    {
        return Err(invalid(field, format!("`{url}` must not have a path")));
    }
    Ok(uri)
}

/// The protocol spoken to an origin (`[upstream] protocol`, `[[sites]] protocol`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1, pooled keep-alive connections.
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge over plaintext TCP.
    H2c,
    /// HTTP/2 over TLS, chosen by ALPN (HTTP/1.1 if the origin does not offer h2).
    H2,
}

impl Protocol {
    /// `http1`, `h2c` or `h2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::H2c => "h2c",
            Protocol::H2 => "h2",
        }
    }
}

/// How requests are spread over an origin's servers (`[upstream] balance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Each server in turn.
    RoundRobin,
    /// Of two servers taken in turn, the one with fewer requests in flight.
    LeastOutstanding,
}
