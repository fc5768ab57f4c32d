//! `[fleet]`: purge fan-out over NATS JetStream. Every purge a node accepts
//! is committed locally, queued in a durable outbox, published to one
//! stream, and applied by every other node through its own durable
//! consumer. Without `servers` the node runs alone. docs/fleet.md has the
//! topology and the failure cases.

use super::{ConfigError, invalid};
use serde::Deserialize;
use std::path::PathBuf;

/// What a node does with its cache until it has read every purge it missed
/// while it was away.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Serve, but treat every stored object as soft-purged (revalidate it
    /// with the origin before use) until caught up: nothing a missed purge
    /// covers is served, at the cost of origin revalidations.
    #[default]
    Revalidate,
    /// As `revalidate`, and `/health` answers 503 until caught up, so
    /// that load balancers send no traffic before then.
    Unhealthy,
    /// Serve stored objects as usual while catching up: a purge missed
    /// while down may be served past for as long as catching up takes.
    Serve,
}

/// `[fleet]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// NATS server URLs, `nats://host:port`. Empty: no fleet, the node runs
    /// alone. Default: empty.
    pub servers: Vec<String>,
    /// This node's id in the fleet: its durable consumer's name and its
    /// name in acknowledgements. Letters, digits, `-` and `_`, at most 64.
    /// Default: the host name.
    pub node_id: Option<String>,
    /// A NATS token. Default: none.
    pub token: Option<String>,
    /// A NATS credentials file (JWT and nkey seed). Default: none.
    pub creds_file: Option<PathBuf>,
    /// A file holding an nkey seed (`SU...`). Default: none.
    pub nkey_seed_file: Option<PathBuf>,
    /// The JetStream stream that carries purges; created when missing.
    /// Default: `EDGECACHE_PURGES`.
    pub stream: String,
    /// The subject purges are published on. Acknowledgements use
    /// `<subject>.ack.<node id>` and presence `<subject>.presence.<node id>`.
    /// Default: `edgecache.purge`.
    pub subject: String,
    /// How long the stream keeps a purge, in seconds: a node away for
    /// longer finds a gap and soft-purges everything it holds.
    /// Default: 604800 (7 days).
    pub retention_secs: u64,
    /// Stream replicas (1 for a lone NATS server, 3 in a NATS cluster).
    /// Created streams only. Default: 1.
    pub replicas: usize,
    /// How often a node announces itself to the fleet; a node not heard
    /// from in three intervals counts as down. 100 to 60000. Default: 1000.
    pub presence_interval_ms: u64,
    /// What the node does until it has caught up with the purges it
    /// missed: `revalidate` (serve, revalidating every stored object),
    /// `unhealthy` (the same, and `/health` answers 503) or `serve` (serve
    /// stored objects as they are). Default: `revalidate`.
    pub catch_up: CatchUp,
    /// Longest `?wait=fleet` wait a purge API call may ask for with
    /// `timeout_ms`. Default: 10000.
    pub max_wait_ms: u64,
    /// `?wait=fleet` without `timeout_ms` waits this long. Default: 2000.
    pub default_wait_ms: u64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            servers: Vec::new(),
            node_id: None,
            token: None,
            creds_file: None,
            nkey_seed_file: None,
            stream: "EDGECACHE_PURGES".into(),
            subject: "edgecache.purge".into(),
            retention_secs: 7 * 24 * 3600,
            replicas: 1,
            presence_interval_ms: 1000,
            catch_up: CatchUp::Revalidate,
            max_wait_ms: 10_000,
            default_wait_ms: 2000,
        }
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl FleetConfig {
    /// Is the node in a fleet?
    pub fn enabled(&self) -> bool {
        !self.servers.is_empty()
    }

    /// This node's id: `node_id`, else the host name made into a token.
    pub fn node_id(&self) -> String {
        if let Some(id) = &self.node_id {
            return id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .unwrap_or_default();
        let id: String = host
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        if id.is_empty() {
            "edgecache".into()
        } else {
            id
        }
    }

    /// Check every value; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, s) in self.servers.iter().enumerate() {
            let ok = s
                .strip_prefix("nats://")
                .or_else(|| s.strip_prefix("tls://"))
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(['/', ' ']));
            if !ok {
                return Err(invalid(
                    format!("fleet.servers[{i}]"),
                    format!("`{s}` is not a nats://host:port URL"),
                ));
            }
        }
        if let Some(id) = &self.node_id
            && !is_token(id)
        {
            return Err(invalid(
                "fleet.node_id",
                format!("`{id}`: use 1 to 64 letters, digits, `-` or `_`"),
            ));
        }
        let credentials = [
            self.token.is_some(),
            self.creds_file.is_some(),
            self.nkey_seed_file.is_some(),
        ];
        if credentials.iter().filter(|c| **c).count() > 1 {
            return Err(invalid(
                "fleet.token",
                "give at most one of token, creds_file and nkey_seed_file",
            ));
        }
        if !is_token(&self.stream) {
            return Err(invalid(
                "fleet.stream",
                format!("`{}`: use letters, digits, `-` or `_`", self.stream),
            ));
        }
        let subject_ok = !self.subject.is_empty()
            && self.subject.split('.').all(is_token)
            && self.subject.len() <= 200;
        if !subject_ok {
            return Err(invalid(
                "fleet.subject",
                format!(
                    "`{}`: dot-separated tokens of letters, digits, `-` or `_`, no wildcards",
                    self.subject
                ),
            ));
        }
        if self.retention_secs == 0 {
            return Err(invalid("fleet.retention_secs", "must be at least 1"));
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(invalid("fleet.replicas", "must be 1 to 5"));
        }
        if !(100..=60_000).contains(&self.presence_interval_ms) {
            return Err(invalid(
                "fleet.presence_interval_ms",
                "must be 100 to 60000",
            ));
        }
        if !(1..=600_000).contains(&self.max_wait_ms) {
            return Err(invalid("fleet.max_wait_ms", "must be 1 to 600000"));
        }
        if self.default_wait_ms == 0 || self.default_wait_ms > self.max_wait_ms {
            return Err(invalid(
                "fleet.default_wait_ms",
                "must be 1 to fleet.max_wait_ms",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let cases: Vec<(Box<dyn Fn(&mut FleetConfig)>, &str)> = vec![
            (
                Box::new(|c| c.servers = vec!["localhost:4222".into()]),
                "fleet.servers[0]",
            ),
            (
                Box::new(|c| c.node_id = Some("a.b".into())),
                "fleet.node_id",
            ),
            (
                Box::new(|c| c.node_id = Some(String::new())),
                "fleet.node_id",
            ),
            (
                Box::new(|c| {
                    c.token = Some("t".into());
                    c.creds_file = Some("/x".into());
                }),
                "fleet.token",
            ),
            (Box::new(|c| c.stream = "A B".into()), "fleet.stream"),
            (Box::new(|c| c.subject = "a.*".into()), "fleet.subject"),
            (Box::new(|c| c.subject = "a..b".into()), "fleet.subject"),
            (Box::new(|c| c.replicas = 0), "fleet.replicas"),
            (
                Box::new(|c| c.presence_interval_ms = 5),
                "fleet.presence_interval_ms",
            ),
            (
                Box::new(|c| c.default_wait_ms = 20_000),
                "fleet.default_wait_ms",
            ),
        ];
        for (change, field) in cases {
            let mut c = FleetConfig {
                servers: vec!["nats://127.0.0.1:4222".into()],
                ..FleetConfig::default()
            };
            change(&mut c);
            let e = c.validate().expect_err(field).to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
        let ok = FleetConfig {
            servers: vec!["nats://127.0.0.1:4222".into(), "tls://n2:4222".into()],
            node_id: Some("edge-1_a".into()),
            ..FleetConfig::default()
        };
        assert!(ok.validate().is_ok());
        assert!(!FleetConfig::default().enabled());
        assert!(is_token(&FleetConfig::default().node_id()));
    }
}
