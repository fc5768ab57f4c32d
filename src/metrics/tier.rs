//! `edgecache_tier_requests_total{outcome}`: what tiered caching did with
//! each miss or revalidation (home peer, next peer, origin fallback, ...),
//! and the loops it refused. The label set is the fixed outcome list.

use crate::proxy::tier::TierOutcome;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

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
