//! `edgecache_tier_requests_total{outcome}`: what tiered caching did with
//! each miss or revalidation (home peer, next peer, origin fallback, ...),
//! and the loops it refused. The label set is the fixed outcome list.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// What tiering did with a request: the metric label, and the log's word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierOutcome {
    /// The home peer answered.
    Home,
    /// The home peer failed; the next peer in hash order answered.
    NextPeer,
    /// Every peer tried failed; the origin was asked.
    OriginFallback,
    /// This node is the object's home: it asks the origin itself.
    SelfHome,
    /// A peer's request: served from cache or the origin, never another peer.
    FromPeer,
    /// Our id is in CDN-Loop as often as a peer would allow (a client's
    /// own CDN-Loop, or a loop through the origin): the origin is asked,
    /// not a peer.
    LoopLimit,
    /// Our id is in CDN-Loop more often than `tier.loop_limit`: 508.
    LoopRefused,
}

impl TierOutcome {
    /// Every outcome, for the metric families.
    pub const ALL: [TierOutcome; 7] = [
        TierOutcome::Home,
        TierOutcome::NextPeer,
        TierOutcome::OriginFallback,
        TierOutcome::SelfHome,
        TierOutcome::FromPeer,
        TierOutcome::LoopLimit,
        TierOutcome::LoopRefused,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            TierOutcome::Home => "home",
            TierOutcome::NextPeer => "next_peer",
            TierOutcome::OriginFallback => "origin_fallback",
            TierOutcome::SelfHome => "self_home",
            TierOutcome::FromPeer => "from_peer",
            TierOutcome::LoopLimit => "loop_limit",
            TierOutcome::LoopRefused => "loop_refused",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The tier's counters, one per outcome (all present from the start, so a
/// dashboard sees zeros rather than gaps).
#[derive(Debug)]
pub struct TierMetrics {
    by_outcome: [Counter; TierOutcome::ALL.len()],
}

impl TierMetrics {
    /// Register the family in `registry`.
    pub fn register(registry: &mut Registry) -> TierMetrics {
        let family = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "tier_requests",
            "Tiered caching: misses and revalidations by where they went (home, next_peer, origin_fallback, self_home, from_peer, loop_limit) and loops refused with 508 (loop_refused)",
            family.clone(),
        );
        let by_outcome = TierOutcome::ALL.map(|o| {
            family
                .get_or_create(&OutcomeLabel {
                    outcome: o.as_str(),
                })
                .clone()
        });
        TierMetrics { by_outcome }
    }

    /// Count one request with `outcome`.
    pub fn count(&self, outcome: TierOutcome) {
        if let Some(i) = TierOutcome::ALL.iter().position(|o| *o == outcome) {
            self.by_outcome[i].inc();
        }
    }
}
