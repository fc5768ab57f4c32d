//! `[tier]`: tiered caching over a ring of peer nodes. Each object has one
//! home peer, chosen by rendezvous hashing of its primary key; a miss asks
//! the home peer, which asks the origin, so a fleet fetches each object from
//! the origin once. docs/tiering.md describes the topology and failure cases.

use super::{ConfigError, invalid};
use serde::Deserialize;
use std::net::SocketAddr;

/// Longest timeout or interval: one hour.
const MAX_MS: u64 = 3_600_000;
/// Most peers in a ring.
const MAX_PEERS: usize = 1024;

/// `[tier]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierConfig {
    /// The fleet's nodes as `ip:port` addresses of their public HTTP
    /// listeners, this node included (see `self_addr`). Every node must list
    /// the same peers, spelt the same way: the spelling is hashed. Requests
    /// from these IP addresses that carry `cdn_id` in CDN-Loop are trusted as
    /// peer requests. Empty turns tiering off. Default: `[]`.
    pub peers: Vec<String>,
    /// Which entry of `peers` is this node (objects whose home it is are
    /// fetched from the origin directly). Required when `peers` is set.
    /// Default: none.
    pub self_addr: Option<String>,
    /// A shield tier: the entries of `peers` that are the only homes, as
    /// `ip:port` spelt as in `peers`. The other nodes send their misses to
    /// the shield (the object's home among these, by the same hashing) and
    /// never ask the origin while a shield node answers. Empty: every peer
    /// is a home (a ring). Default: `[]`.
    pub shield: Vec<String>,
    /// This fleet's token in CDN-Loop (RFC 8586), appended to every request
    /// sent to a peer or the origin. Default: `edgecache`.
    pub cdn_id: String,
    /// Most times `cdn_id` may already appear in a request's CDN-Loop; a
    /// request over it is a loop and gets 508 Loop Detected without being
    /// forwarded. 1 to 16. Default: 1 (a peer request carries it once).
    pub loop_limit: usize,
    /// TCP connect timeout to a peer, in milliseconds; a peer slower to
    /// accept is skipped for the next in hash order. 1 to 3600000.
    /// Default: 500.
    pub connect_timeout_ms: u64,
    /// Time to a peer's response head, in milliseconds; a slower peer is
    /// skipped for the next in hash order. A peer answering a miss waits for
    /// the origin first, so keep it above the origin's first-byte time.
    /// 1 to 3600000. Default: 10000.
    pub first_byte_timeout_ms: u64,
    /// Milliseconds between health checks of the peers (a TCP connect
    /// within `connect_timeout_ms`); a failed check opens the peer's breaker
    /// until a check passes. 100 to 3600000. Default: 2000.
    pub health_check_interval_ms: u64,
}

impl Default for TierConfig {
    fn default() -> Self {
        TierConfig {
            peers: Vec::new(),
            self_addr: None,
            shield: Vec::new(),
            cdn_id: "edgecache".into(),
            loop_limit: 1,
            connect_timeout_ms: 500,
            first_byte_timeout_ms: 10_000,
            health_check_interval_ms: 2000,
        }
    }
}

impl TierConfig {
    /// Is tiering on (any peers listed)?
    pub fn enabled(&self) -> bool {
        !self.peers.is_empty()
    }

    /// The peers as socket addresses (checked by `validate`; an entry that
    /// does not parse is left out).
    pub fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.peers.iter().filter_map(|p| p.parse().ok()).collect()
    }

    /// Check the fields; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !valid_cdn_id(&self.cdn_id) {
            return Err(invalid(
                "tier.cdn_id",
                "must be 1 to 64 characters of letters, digits and `-._~!$&'*+:` (an RFC 8586 pseudonym or host)",
            ));
        }
        if !(1..=16).contains(&self.loop_limit) {
            return Err(invalid("tier.loop_limit", "must be between 1 and 16"));
        }
        for (field, v, min) in [
            ("tier.connect_timeout_ms", self.connect_timeout_ms, 1),
            ("tier.first_byte_timeout_ms", self.first_byte_timeout_ms, 1),
            (
                "tier.health_check_interval_ms",
                self.health_check_interval_ms,
                100,
            ),
        ] {
            if !(min..=MAX_MS).contains(&v) {
                return Err(invalid(
                    field,
                    format!("must be between {min} and {MAX_MS}"),
                ));
            }
        }
        if self.peers.len() > MAX_PEERS {
            return Err(invalid("tier.peers", format!("at most {MAX_PEERS} peers")));
        }
        for (i, p) in self.peers.iter().enumerate() {
            if p.parse::<SocketAddr>().is_err() {
                return Err(invalid(
                    format!("tier.peers[{i}]"),
                    format!("`{p}` is not an `ip:port` address"),
                ));
            }
            if self.peers[..i].contains(p) {
                return Err(invalid(
                    format!("tier.peers[{i}]"),
                    format!("`{p}` is listed twice"),
                ));
            }
        }
        for (i, p) in self.shield.iter().enumerate() {
            if !self.peers.contains(p) {
                return Err(invalid(
                    format!("tier.shield[{i}]"),
                    format!("`{p}` is not one of tier.peers"),
                ));
            }
            if self.shield[..i].contains(p) {
                return Err(invalid(
                    format!("tier.shield[{i}]"),
                    format!("`{p}` is listed twice"),
                ));
            }
        }
        match (&self.self_addr, self.enabled()) {
            (None, true) => Err(invalid(
                "tier.self_addr",
                "is required when tier.peers is set: which peer is this node",
            )),
            (Some(s), true) if !self.peers.contains(s) => Err(invalid(
                "tier.self_addr",
                format!("`{s}` is not one of tier.peers"),
            )),
            _ => Ok(()),
        }
    }
}

/// An RFC 8586 cdn-id we can write and recognise: a pseudonym (a token) or
/// `host[:port]`, kept to characters that need no quoting.
fn valid_cdn_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'*+:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut TierConfig)) -> TierConfig {
        let mut t = TierConfig {
            peers: vec!["10.0.0.1:8080".into(), "10.0.0.2:8080".into()],
            self_addr: Some("10.0.0.1:8080".into()),
            ..Default::default()
        };
        f(&mut t);
        t
    }

    #[test]
    fn default_is_off_and_valid() {
        let t = TierConfig::default();
        assert!(!t.enabled());
        t.validate().expect("default valid");
        with(|_| {}).validate().expect("a ring is valid");
        with(|t| t.shield = vec![t.peers[1].clone()])
            .validate()
            .expect("a shield is valid");
    }

    /// Each bad value is refused with the field named.
    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(TierConfig, &str)> = vec![
            (with(|t| t.peers[1] = "peer-b:8080".into()), "tier.peers[1]"),
            (with(|t| t.peers[1] = t.peers[0].clone()), "tier.peers[1]"),
            (with(|t| t.self_addr = None), "tier.self_addr"),
            (
                with(|t| t.self_addr = Some("10.0.0.9:1".into())),
                "tier.self_addr",
            ),
            (
                with(|t| t.shield = vec!["10.0.0.9:8080".into()]),
                "tier.shield[0]",
            ),
            (
                with(|t| t.shield = vec![t.peers[1].clone(), t.peers[1].clone()]),
                "tier.shield[1]",
            ),
            (with(|t| t.cdn_id = "a b".into()), "tier.cdn_id"),
            (with(|t| t.cdn_id = "a,b".into()), "tier.cdn_id"),
            (with(|t| t.cdn_id = String::new()), "tier.cdn_id"),
            (with(|t| t.loop_limit = 0), "tier.loop_limit"),
            (
                with(|t| t.connect_timeout_ms = 0),
                "tier.connect_timeout_ms",
            ),
            (
                with(|t| t.first_byte_timeout_ms = u64::MAX),
                "tier.first_byte_timeout_ms",
            ),
            (
                with(|t| t.health_check_interval_ms = 1),
                "tier.health_check_interval_ms",
            ),
        ];
        for (cfg, field) in cases {
            let err = cfg.validate().expect_err(field).to_string();
            assert!(err.contains(field), "{err:?} should name {field}");
        }
    }
}
