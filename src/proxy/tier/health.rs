//! Health checks of the peers: a TCP connect to each within the tier's
//! connect timeout. A peer that does not accept opens its breaker at once,
//! so requests skip it before any of them waits on it; it is used again
//! when its breaker's cooldown lets a request through and that succeeds.
//! A connect costs the peer nothing and the origin nothing (an HTTP probe
//! would be routed to a site, and could reach its origin).

use crate::proxy::Node;
use std::sync::Weak;

/// Check the peers of `node`'s tier at its interval, for as long as the
/// node serves requests (a reload replaces it, with its own checks).
pub fn spawn(node: Weak<Node>) {
    let Some(every) = node
        .upgrade()
        .and_then(|n| n.tier.as_ref().map(|t| t.health_check_interval))
    else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(tier) = node.upgrade().and_then(|n| n.tier.clone()) else {
                return;
            };
            for (i, server) in tier.peers.servers().iter().enumerate() {
                if i == tier.me() {
                    continue;
                }
                if server.conns.dialer().open(false).await.is_ok() {
                    continue;
                }
                if server.healthy() {
                    tracing::warn!(peer = tier.id(i), "peer health check failed; skipping it");
                }
                tier.peers.mark(i, false, crate::clock::instant());
            }
        }
    });
}
