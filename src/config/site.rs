//! `[[sites]]`: one virtual host and its overrides.

use super::{CompressionOverride, Protocol, SetCookie, UserAgentRule, VaryFieldConfig};
use serde::Deserialize;
use std::path::PathBuf;

/// One `[[sites]]` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The site's name in metrics and logs. Default: its first host.
    pub name: Option<String>,
    /// Host names served by this site (no port; case-insensitive). Required.
    pub hosts: Vec<String>,
    /// Origin URL, `http://host:port`, or several comma-separated servers. Required.
    pub origin: String,
    /// Honour request cache directives for this site. Default: the
    /// `[cache] honor_request_directives` value.
    pub honor_request_directives: Option<bool>,
    /// `pass`, `strip` or `rfc9111` for this site. Default: the `[cache] set_cookie` value.
    pub set_cookie: Option<SetCookie>,
    /// Upstream concurrency limit for this site's origin. Default: `[upstream] max_concurrency`.
    pub max_concurrency: Option<usize>,
    /// Accept WebSocket upgrades for this site. Default: the `[websocket] enabled` value.
    pub websocket: Option<bool>,
    /// Log this site's requests. Default: the `[access_log] enabled` value.
    pub access_log: Option<bool>,
    /// Fraction of this site's requests logged. Default: the `[access_log] sample` value.
    pub access_log_sample: Option<f64>,
    /// `http1`, `h2c` or `h2` for this site's origin (see `[upstream]
    /// protocol`). Default: the `[upstream] protocol` value.
    pub protocol: Option<Protocol>,
    /// PEM file of CA certificates trusted for this site's `https://`
    /// origin, instead of the system roots. Default: the `[upstream]
    /// tls_ca_file` value.
    pub tls_ca_file: Option<PathBuf>,
    /// Check this site's `https://` origin certificate. Default: the
    /// `[upstream] tls_verify` value.
    pub tls_verify: Option<bool>,
    /// Name sent in SNI and checked against the origin's certificate.
    /// Default: the host of the origin URL.
    pub tls_server_name: Option<String>,
    /// Languages Accept-Language is keyed on for this site. Default: the
    /// `[cache] vary_languages` value.
    pub vary_languages: Option<Vec<String>>,
    /// `bucket` or `ignore` for this site. Default: the `[cache]
    /// vary_user_agent` value.
    pub vary_user_agent: Option<UserAgentRule>,
    /// Declared normalisation of other fields for this site (replaces the
    /// whole `[cache]` list). Default: the `[cache] vary_fields` value.
    pub vary_fields: Option<Vec<VaryFieldConfig>>,
    /// Most variants stored per URL of this site. Default: the `[cache]
    /// max_variants_per_url` value.
    pub max_variants_per_url: Option<usize>,
    /// The origin-purge field for this site's origin; `""` turns it off.
    /// Default: the `[cache] origin_purge_header` value.
    pub origin_purge_header: Option<String>,
    /// This site's `[compression]` overrides, e.g. `compression = {
    /// enabled = false }`. Default: none (the `[compression]` values).
    #[serde(default)]
    pub compression: CompressionOverride,
}
