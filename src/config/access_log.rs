//! `[access_log]`: one line per request, written off the request path.

use super::{ConfigError, invalid};
use serde::Deserialize;
use std::path::PathBuf;

/// The line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, every field named.
    #[default]
    Json,
    /// The combined log format of Apache and nginx, followed by the
    /// Cache-Status, the request duration and the site.
    Combined,
}

/// `[access_log]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessLogConfig {
    /// Write an access log. `[[sites]] access_log` overrides it per site.
    /// Default: false.
    pub enabled: bool,
    /// File to append to; absent or `-` for standard output. The file is
    /// reopened on SIGHUP and SIGUSR1 (for logrotate) and at a reload.
    /// Default: standard output.
    pub path: Option<PathBuf>,
    /// `json` or `combined`. Default: `json`.
    pub format: LogFormat,
    /// Fraction of requests logged, 0.0 to 1.0 (errors, status 5xx, are
    /// always logged). `[[sites]] access_log_sample` overrides it per site.
    /// Default: 1.0.
    pub sample: f64,
    /// Lines waiting to be written; beyond it lines are dropped (and
    /// counted in `edgecache_access_log_dropped_total`), never waited for.
    /// Default: 65536.
    pub queue_lines: usize,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        AccessLogConfig {
            enabled: false,
            path: None,
            format: LogFormat::Json,
            sample: 1.0,
            queue_lines: 65_536,
        }
    }
}

/// Check a sampling fraction; the error names `field`.
pub fn check_sample(field: &str, v: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(invalid(field, "must be between 0.0 and 1.0"))
    }
}

impl AccessLogConfig {
    /// Check the fields; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_sample("access_log.sample", self.sample)?;
        if !(1..=16 << 20).contains(&self.queue_lines) {
            return Err(invalid(
                "access_log.queue_lines",
                "must be between 1 and 16777216",
            ));
        }
        if let Some(p) = &self.path
            && p.as_os_str().is_empty()
        {
            return Err(invalid(
                "access_log.path",
                "must not be empty (omit it, or use `-`, for standard output)",
            ));
        }
        Ok(())
    }

    /// The file to write to, `None` for standard output.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.path.as_deref().filter(|p| p.as_os_str() != "-")
    }
}
