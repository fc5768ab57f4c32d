//! Tiered caching (`[tier]`): a cacheable miss or revalidation goes to the
//! object's home peer (rendezvous hashing of its primary key), which asks the
//! origin; so a fleet fetches each object from the origin once. CDN-Loop
//! (RFC 8586) marks a peer's request and stops loops. docs/tiering.md has
//! the topology and every failure case.
//!
//! This file holds the tier built from config and the routing decision,
//! which is pure; `peer` sends to one peer, `via_peers` walks the order.

pub mod cdn_loop;
pub mod health;
pub mod peer;
pub mod ring;
pub mod via_peers;

use crate::config::Config;
use crate::config::{Balance, Protocol};
pub use crate::metrics::tier_outcomes::TierOutcome;
use crate::target::Scheme;
use crate::upstream::conn_pool::{ConnPool, ConnSettings};
use crate::upstream::origin::{BreakerConfig, Origin};
use http::{HeaderMap, HeaderValue};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use storage::ObjectKey;

/// How many peers a request may try before the origin: the home peer and
/// the next in hash order (a third would add latency to every failure, and
/// origin load when the origin itself is failing).
const MAX_PEER_ATTEMPTS: usize = 2;

/// The tier of a node: its peers and the CDN-Loop rules.
#[derive(Debug)]
pub struct Tier {
    /// The peers' ids as configured (hashed by the ring; every node must
    /// spell them the same).
    ids: Vec<String>,
    /// Which of them is this node.
    me: usize,
    /// The peers that may be an object's home: all of them in a ring, the
    /// shield's in a shield tier (indexes into `ids`).
    homes: Vec<usize>,
    /// Their ids, hashed.
    home_ids: Vec<String>,
    /// The peers' addresses, to recognise a peer's request.
    ips: Vec<IpAddr>,
    /// One server per peer (this node's entry is never sent to): pooled
    /// keep-alive connections, and a circuit breaker per peer fed by
    /// request outcomes and health checks.
    pub peers: Origin,
    /// This fleet's CDN-Loop id.
    cdn_id: String,
    /// `cdn_id` as a field value, built once.
    pub cdn_loop_value: HeaderValue,
    loop_limit: usize,
    /// Time to a peer's response head.
    pub first_byte_timeout: Duration,
    /// Longest gap between two body chunks from a peer.
    pub idle_timeout: Option<Duration>,
    /// Longest whole exchange with a peer.
    pub total_timeout: Option<Duration>,
    /// Between two health checks of the peers.
    pub health_check_interval: Duration,
}

/// What a request says about where it came from, read once on arrival.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Arrival {
    /// How many times our `cdn_id` is already in its CDN-Loop.
    pub ours: usize,
    /// Sent by a peer: from a peer's address, with our id in CDN-Loop.
    pub from_peer: bool,
    /// A peer's position in the fleet's purge stream (`edgecache-fleet-seq`;
    /// 0 when absent or not from a peer). Stored objects are revalidated
    /// while this node has read less of the stream: the peer may have
    /// applied a purge this node has not yet.
    pub fleet_seq: u64,
}

/// The request field that carries a peer's purge-stream position.
pub const FLEET_SEQ: &str = "edgecache-fleet-seq";

/// Where a cacheable miss or revalidation is fetched from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// These peers in turn (indexes into the peer list, home first), then
    /// the origin.
    Peers(Vec<usize>),
    /// The origin directly, and why.
    Origin(TierOutcome),
}

impl Tier {
    /// The tier described by `cfg.tier` (validated), or `None` when
    /// tiering is off.
    pub fn from_config(cfg: &Config) -> Option<Tier> {
        let t = &cfg.tier;
        if !t.enabled() {
            return None;
        }
        let me = t
            .self_addr
            .as_ref()
            .and_then(|s| t.peers.iter().position(|p| p == s))?;
        let settings = ConnSettings {
            connect_timeout: Duration::from_millis(t.connect_timeout_ms),
            idle_timeout: Duration::from_secs(cfg.upstream.pool_idle_timeout_secs),
            max_idle: cfg.upstream.pool_max_idle_per_host,
        };
        let servers = t
            .peer_addrs()
            .into_iter()
            .filter_map(|a| {
                let uri: http::Uri = format!("http://{a}").parse().ok()?;
                let conns = ConnPool::new(&uri, settings, Protocol::Http1, None);
                Some((uri, conns))
            })
            .collect();
        let breaker = BreakerConfig {
            failures: cfg.upstream.breaker_failures,
            cooldown: Duration::from_secs(cfg.upstream.breaker_cooldown_secs),
        };
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        let homes: Vec<usize> = if t.shield.is_empty() {
            (0..t.peers.len()).collect()
        } else {
            t.shield
                .iter()
                .filter_map(|s| t.peers.iter().position(|p| p == s))
                .collect()
        };
        Some(Tier {
            home_ids: homes.iter().map(|i| t.peers[*i].clone()).collect(),
            homes,
            ids: t.peers.clone(),
            me,
            ips: t.peer_addrs().iter().map(|a| a.ip()).collect(),
            peers: Origin::new(servers, Balance::RoundRobin, breaker, 0),
            cdn_loop_value: HeaderValue::from_str(&t.cdn_id).ok()?,
            cdn_id: t.cdn_id.clone(),
            loop_limit: t.loop_limit,
            first_byte_timeout: Duration::from_millis(t.first_byte_timeout_ms),
            idle_timeout: ms(cfg.upstream.idle_timeout_ms),
            total_timeout: ms(cfg.upstream.total_timeout_ms),
            health_check_interval: Duration::from_millis(t.health_check_interval_ms),
        })
    }

    /// Which peer is this node.
    pub fn me(&self) -> usize {
        self.me
    }

    /// Can peer `i` be an object's home (all peers in a ring; the shield's
    /// in a shield tier)?
    pub fn is_home(&self, i: usize) -> bool {
        self.homes.contains(&i)
    }

    /// A peer's id as configured.
    pub fn id(&self, i: usize) -> &str {
        self.ids.get(i).map_or("", String::as_str)
    }

    /// Read a request's CDN-Loop and source. Our id from an address that is
    /// not a peer's still counts towards the loop limit, but does not make
    /// the request a peer's.
    pub fn arrival(&self, headers: &HeaderMap, client: IpAddr) -> Arrival {
        let ours = cdn_loop::count(headers, &self.cdn_id);
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
        let from_peer = ours > 0 && self.ips.contains(&client.to_canonical());
        let fleet_seq = if from_peer {
            headers
                .get(FLEET_SEQ)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        } else {
            0
        };
        Arrival {
            ours,
            from_peer,
            fleet_seq,
        }
    }

    /// Is this request a loop, to be answered 508 and not forwarded?
    pub fn refuses(&self, arrival: Arrival) -> bool {
        arrival.ours > self.loop_limit
    }

    /// Where to fetch the object with primary key `key` for a request that
    /// arrived as `arrival` (pure).
    pub fn route(&self, arrival: Arrival, key: &ObjectKey) -> Route {
        if arrival.from_peer {
            return Route::Origin(TierOutcome::FromPeer);
        }
        // The peer would see our id once more than this request carries,
        // and refuse it: ask the origin instead of wasting the hop.
        if arrival.ours + 1 > self.loop_limit {
            return Route::Origin(TierOutcome::LoopLimit);
        }
        // In a ring this node is among the homes, and asks only the peers
        // before itself in the order; an edge of a shield tier is not, and
        // asks the shield.
        let peers: Vec<usize> = ring::order(&self.home_ids, key)
            .into_iter()
            .map(|h| self.homes[h])
            .take_while(|i| *i != self.me)
            .take(MAX_PEER_ATTEMPTS)
            .collect();
        if peers.is_empty() {
            return Route::Origin(TierOutcome::SelfHome);
        }
        Route::Peers(peers)
    }
}

/// The scheme a peer's request is keyed by: the one the peer's client used,
/// which the peer sends in X-Forwarded-Proto (trusted from peers only).
pub fn peer_scheme(headers: &HeaderMap, listener: Scheme) -> Scheme {
    match headers.get("x-forwarded-proto").map(HeaderValue::as_bytes) {
        Some(b"https") => Scheme::Https,
        Some(b"http") => Scheme::Http,
        _ => listener,
    }
}

/// Append our CDN-Loop member to a request forwarded upstream (to a peer or
/// the origin), when tiering is on.
pub fn mark_forwarded(tier: Option<&Arc<Tier>>, headers: &mut HeaderMap) {
    if let Some(t) = tier {
        cdn_loop::append(headers, &t.cdn_loop_value);
    }
}

#[cfg(test)]
mod tests;
