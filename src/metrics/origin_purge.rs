//! `edgecache_origin_purges_total{outcome}` and
//! `edgecache_origin_purge_keys_dropped_total`: purges origins triggered
//! with a response field (docs/purge-api.md), and keys refused for the caps.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// What became of a response's purge field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginPurgeOutcome {
    /// Recorded (durable, and queued for the fleet).
    Applied,
    /// The field named no usable key.
    Empty,
    /// The purge database refused it.
    Failed,
}

impl OriginPurgeOutcome {
    /// Every outcome, in label order.
    pub const ALL: [OriginPurgeOutcome; 3] = [
        OriginPurgeOutcome::Applied,
        OriginPurgeOutcome::Empty,
        OriginPurgeOutcome::Failed,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            OriginPurgeOutcome::Applied => "applied",
            OriginPurgeOutcome::Empty => "empty",
            OriginPurgeOutcome::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The origin-purge counters (every outcome present from the start).
#[derive(Debug)]
pub struct OriginPurgeMetrics {
    by_outcome: [Counter; OriginPurgeOutcome::ALL.len()],
    /// Keys dropped: beyond the per-response cap, or too long.
    pub keys_dropped: Counter,
}

impl OriginPurgeMetrics {
    /// Register the families in `registry`.
    pub fn register(registry: &mut Registry) -> OriginPurgeMetrics {
        let family = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "origin_purges",
            "Responses whose origin-purge field was honoured, by outcome (applied, empty, failed)",
            family.clone(),
        );
        let keys_dropped = Counter::default();
        registry.register(
            "origin_purge_keys_dropped",
            "Keys in origin-purge fields dropped: beyond origin_purge_max_keys or longer than origin_purge_max_key_bytes",
            keys_dropped.clone(),
        );
        let by_outcome = OriginPurgeOutcome::ALL.map(|o| {
            family
                .get_or_create(&OutcomeLabel {
                    outcome: o.as_str(),
                })
                .clone()
        });
        OriginPurgeMetrics {
            by_outcome,
            keys_dropped,
        }
    }

    /// Count one response with `outcome`.
    pub fn count(&self, outcome: OriginPurgeOutcome) {
        if let Some(i) = OriginPurgeOutcome::ALL.iter().position(|o| *o == outcome) {
            self.by_outcome[i].inc();
        }
    }
}
