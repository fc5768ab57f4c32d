//! `[admin]`: the admin listener and its bearer tokens.

use serde::Deserialize;
use std::net::SocketAddr;

/// `[admin]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Admin listener (purge API, /metrics, /health). Default: `127.0.0.1:9080`.
    pub listen: SocketAddr,
    /// Bearer tokens for the purge API. Default: none (every purge gets 401).
    pub tokens: Vec<TokenConfig>,
}

/// One `[[admin.tokens]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The secret (at least 16 characters). Required. Never logged.
    pub token: String,
    /// Hosts this token may purge; `"*"` means every host. Required.
    pub hosts: Vec<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9080)),
            tokens: Vec::new(),
        }
    }
}
