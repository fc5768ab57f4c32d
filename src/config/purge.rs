//! `[purge]`: surrogate-key fields, their limits, and who may purge.

use serde::Deserialize;

/// One field that carries surrogate keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFieldConfig {
    /// Field name, e.g. `Surrogate-Key`. Required.
    pub name: String,
    /// One character separating keys, e.g. `" "` or `","`. Required.
    pub separator: String,
}

/// `[purge]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurgeConfig {
    /// Fields carrying surrogate keys. Default: `Surrogate-Key` separated by
    /// spaces (Fastly) and `Cache-Tag` separated by commas (Cloudflare).
    pub key_fields: Vec<KeyFieldConfig>,
    /// Most surrogate keys kept per object; the rest are dropped and counted. Default: 64.
    pub max_keys_per_object: usize,
    /// Longest surrogate key kept, in bytes. Default: 256.
    pub max_key_bytes: usize,
    /// Remove the key fields from responses sent downstream. Default: true.
    pub strip_key_fields: bool,
    /// Most keys in one purge API request (400 beyond). Default: 1000.
    pub max_batch: usize,
    /// Most hosts one purge API key purge may name (400 beyond). Default: 100.
    pub max_hosts: usize,
    /// Largest purge API request body, in bytes (413 beyond). The body is
    /// read only after the bearer token is checked. Default: 65536 (64 KiB).
    pub max_body_bytes: usize,
    /// Accept `PURGE <url>` on the public listener. Default: false.
    pub public_purge_method: bool,
    /// Client networks allowed to send `PURGE` when it is on.
    /// Default: `["127.0.0.1/32", "::1/128"]`.
    pub public_purge_cidrs: Vec<String>,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        PurgeConfig {
            key_fields: vec![
                KeyFieldConfig {
                    name: "surrogate-key".into(),
                    separator: " ".into(),
                },
                KeyFieldConfig {
                    name: "cache-tag".into(),
                    separator: ",".into(),
                },
            ],
            max_keys_per_object: 64,
            max_key_bytes: 256,
            strip_key_fields: true,
            max_batch: 1000,
            max_hosts: 100,
            max_body_bytes: 64 * 1024,
            public_purge_method: false,
            public_purge_cidrs: vec!["127.0.0.1/32".into(), "::1/128".into()],
        }
    }
}
