//! Health checks of the peers that may be homes (every peer in a ring,
//! the shield's nodes in a shield tier): a TCP connect to each within the tier's
//! connect timeout. A peer that does not accept opens its breaker at once,
//! so requests skip it before any of them waits on it; when it accepts
//! again, the next check closes the breaker it opened.
//! A connect costs the peer nothing and the origin nothing (an HTTP probe
//! would be routed to a site, and could reach its origin).

use crate::proxy::Pipeline;
use std::sync::Weak;

/// Check the peers of `node`'s tier at its interval, for as long as the
/// node serves requests (a reload replaces it, with its own checks).
pub fn spawn(pipeline: Weak<Pipeline>) {
    let Some(every) = pipeline
        .upgrade()
        .and_then(|n| n.tier.as_ref().map(|t| t.health_check_interval))
    else {
        return;
    };
    tokio::spawn(async move {
        // The first check waits one interval: a fleet starting together
        // would otherwise mark the peers that start a moment later as down.
        let mut tick = tokio::time::interval_at(crate::clock::timer_now() + every, every);
        // The peers this task marked down, to mark up again.
        let mut down: Vec<bool> = Vec::new();
        loop {
            tick.tick().await;
            let Some(tier) = pipeline.upgrade().and_then(|n| n.tier.clone()) else {
                return;
            };
            down.resize(tier.peers.servers().len(), false);
            for (i, server) in tier.peers.servers().iter().enumerate() {
                if i == tier.me() || !tier.is_home(i) {
                    continue;
                }
                let up = server.conns.dialer().open(false).await.is_ok();
                let now = crate::clock::instant();
                if up {
                    // Close only what a check opened: a breaker opened by
                    // failed requests (a slow peer accepts connections)
                    // waits out its cooldown.
                    if down.get(i).copied().unwrap_or(false) {
                        tracing::info!(
                            peer = tier.id(i),
                            "peer health check passed; using it again"
                        );
                        tier.peers.mark(i, true, now);
                        down[i] = false;
                    }
                    continue;
                }
                if server.healthy() {
                    tracing::warn!(peer = tier.id(i), "peer health check failed; skipping it");
                }
                tier.peers.mark(i, false, now);
                if let Some(d) = down.get_mut(i) {
                    *d = true;
                }
            }
        }
    });
}
