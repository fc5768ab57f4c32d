//! The node's configuration: documented plain data read from one TOML file,
//! with command-line overrides. Every field has a default; `validate` names
//! the field at fault. docs/config.md mirrors this file.

mod access_log;
mod admin;
mod cache;
mod compression;
mod error;
mod fleet;
mod https;
mod origin_protocol;
mod purge;
mod server;
mod site;
mod storage;
mod upstream;
mod validate;
pub mod vary;

pub use access_log::{AccessLogConfig, LogFormat};
pub use admin::{AdminConfig, TokenConfig};
pub use cache::CacheConfig;
pub use compression::{CODINGS, CompressionConfig, CompressionOverride};
pub use error::ConfigError;
pub(crate) use error::invalid;
pub use fleet::{CatchUp, FleetConfig};
pub use purge::{KeyFieldConfig, PurgeConfig};
pub use server::{Runtime, ServerConfig};
pub use site::SiteConfig;
pub use storage::{EvictionPolicy, StorageConfig, WritePolicy};
pub use upstream::{Balance, Protocol, UpstreamConfig, parse_origin, parse_origins};

pub use crate::http_cache::policy::SetCookie;
pub use crate::http_cache::vary_normalise::UserAgentRule;
pub use https::{CertificateConfig, ClientAuth, HttpsConfig, TlsVersion};
use serde::Deserialize;
use std::path::Path;
pub use trace::{OtlpProtocol, TracingConfig, TrustIncoming};
pub use vary::VaryFieldConfig;
pub use websocket::WebSocketConfig;

mod tier;
mod trace;
mod websocket;
pub use tier::TierConfig;

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Origin for requests whose Host matches no `[[sites]]` entry, as
    /// `http://host:port`, or several comma-separated servers forming a pool.
    /// Default: none (such requests get 502).
    pub origin: Option<String>,
    /// Listener and process settings.
    pub server: ServerConfig,
    /// TLS listeners (and HTTP/3 beside them). Default: none.
    pub https: Vec<HttpsConfig>,
    /// Object store budgets and placement.
    pub storage: StorageConfig,
    /// Caching rules.
    pub cache: CacheConfig,
    /// Content codings negotiated at the node: one stored copy, every encoding.
    pub compression: CompressionConfig,
    /// How the node talks to origins.
    pub upstream: UpstreamConfig,
    /// Virtual hosts: Host names mapped to origins. Default: none.
    pub sites: Vec<SiteConfig>,
    /// Surrogate keys and purging.
    pub purge: PurgeConfig,
    /// The admin listener: purge API, metrics, health.
    pub admin: AdminConfig,
    /// WebSocket pass-through: tunnel limits and idle timeout.
    pub websocket: WebSocketConfig,
    /// The access log: one line per request.
    pub access_log: AccessLogConfig,
    /// OpenTelemetry traces: sampling, propagation and OTLP export.
    pub tracing: TracingConfig,
    /// The fleet: purge fan-out over NATS JetStream. Default: off.
    pub fleet: FleetConfig,
    /// Tiered caching over a ring of peer nodes. Default: off.
    pub tier: TierConfig,
}

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg: Config = toml::from_str(&text).map_err(|e| {
            let message = e.to_string().lines().collect::<Vec<_>>().join(" ");
            ConfigError::Parse {
                path: path.to_path_buf(),
                message: match e.span().and_then(|s| field_at(&text, s.start)) {
                    Some(field) => format!("field `{field}`: {message}"),
                    None => message,
                },
            }
        })?;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The dotted name of the field whose value starts at byte `offset` of a
/// TOML text (`storage.write_policy`, `sites[1].set_cookie`), so a parse
/// error names the field the way validation errors do.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..)?.lines().next()?;
    let key = line.split_once('=')?.0.trim();
    let mut table = None;
    let mut arrays: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for l in before[..line_start].lines().map(str::trim) {
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
            let n = arrays.entry(name).or_insert(0);
            table = Some(format!("{name}[{n}]"));
            *n += 1;
        } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            table = Some(name.to_string());
        }
    }
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

#[cfg(test)]
mod tests;
