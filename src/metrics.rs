//! The node's Prometheus metrics (`GET /metrics` on the admin listener),
//! built on prometheus-client so that labels, histograms and the text
//! exposition are right by construction. Per-site families are labelled
//! by site; the label set is bounded by the configured sites. The
//! families outlive config reloads, so counters never go backwards.

mod content_coding;
pub mod fleet_gauges;
pub mod node_collector;
mod origin_purge;
mod site;
pub mod tier_outcomes;

pub use content_coding::{ContentCodingMetrics, FormOutcome};
pub use node_collector::NodeCollector;
pub use origin_purge::{OriginPurgeMetrics, OriginPurgeOutcome};
pub use site::{Protocol, SiteMetrics, Source};
pub use tier_outcomes::TierMetrics;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::sync::Arc;

/// A site label value (shared, not copied per label set).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct SiteName(Arc<str>);

impl prometheus_client::encoding::EncodeLabelValue for SiteName {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, &self.0)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    site: SiteName,
    protocol: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    site: SiteName,
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BytesLabels {
    site: SiteName,
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteLabel {
    site: SiteName,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PurgeLabels {
    kind: &'static str,
    mode: &'static str,
}

type ResultFamily = Family<ResultLabels, Counter>;
type HistogramFamily = Family<SiteLabel, Histogram, fn() -> Histogram>;

/// Latency buckets: 1 ms to about 33 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The node's metric registry and its families.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    results: ResultFamily,
    bytes: Family<BytesLabels, Counter>,
    origin_first_byte: HistogramFamily,
    /// Publish-to-applied times of purges from other fleet nodes.
    pub fleet_propagation: Histogram,
    request_duration: HistogramFamily,
    purges: Family<PurgeLabels, Counter>,
    sites: Mutex<HashMap<Arc<str>, Arc<SiteMetrics>>>,
    /// Counters of other parts of the node, read at scrape time.
    pub node: Arc<NodeCollector>,
    /// Tiered caching outcomes.
    pub tier: TierMetrics,
    /// Variants evicted for `max_variants_per_url`.
    pub vary_variants_evicted: Counter,
    /// Purges origins triggered by a response field.
    pub origin_purge: OriginPurgeMetrics,
    /// Forms made in other content codings.
    pub content_coding: ContentCodingMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The families, registered under the `edgecache_` prefix.
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("edgecache");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by site, protocol and status class",
            requests.clone(),
        );
        let results = ResultFamily::default();
        registry.register(
            "cache_results",
            "Requests by cache outcome (hit, stale, revalidated, miss, pass, error) and reason (the Cache-Status fwd or detail)",
            results.clone(),
        );
        let bytes = Family::<BytesLabels, Counter>::default();
        registry.register_with_unit(
            "response_body",
            "Response body bytes sent, by where they came from (memory, disk, origin, generated). Byte hit ratio: (memory + disk) / all",
            Unit::Bytes,
            bytes.clone(),
        );
        let origin_first_byte: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "origin_first_byte",
            "Origin latency: from sending a request to the origin to its response head",
            Unit::Seconds,
            origin_first_byte.clone(),
        );
        let request_duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "request_duration",
            "Requests from arrival to the last response byte sent",
            Unit::Seconds,
            request_duration.clone(),
        );
        let purges = Family::<PurgeLabels, Counter>::default();
        registry.register(
            "purges",
            "Purges accepted, by kind (key, url, prefix, all) and mode (hard, soft)",
            purges.clone(),
        );
        let fleet_propagation = latency_histogram();
        registry.register_with_unit(
            "fleet_propagation",
            "Fleet purges from another node: from the stream receiving the purge to its being applied here",
            Unit::Seconds,
            fleet_propagation.clone(),
        );
        let tier = TierMetrics::register(&mut registry);
        let vary_variants_evicted = Counter::default();
        registry.register(
            "vary_variants_evicted",
            "Stored Vary variants evicted because their URL reached max_variants_per_url (the oldest goes)",
            vary_variants_evicted.clone(),
        );
        let origin_purge = OriginPurgeMetrics::register(&mut registry);
        let content_coding = ContentCodingMetrics::register(&mut registry);
        let node = Arc::new(NodeCollector::default());
        registry.register_collector(Box::new(node.clone()));
        Arc::new(Metrics {
            registry,
            requests,
            results,
            bytes,
            origin_first_byte,
            fleet_propagation,
            request_duration,
            purges,
            sites: Mutex::new(HashMap::new()),
            node,
            tier,
            vary_variants_evicted,
            origin_purge,
            content_coding,
        })
    }

    /// The handles of the site labelled `label`, made on first use.
    pub fn site(&self, label: &str) -> Arc<SiteMetrics> {
        let mut sites = self.sites.lock();
        if let Some(s) = sites.get(label) {
            return s.clone();
        }
        let label: Arc<str> = Arc::from(label);
        let requests = std::array::from_fn(|p| {
            std::array::from_fn(|c| {
                self.requests
                    .get_or_create(&RequestLabels {
                        site: SiteName(label.clone()),
                        protocol: site::PROTOCOLS[p],
                        status: site::STATUS_CLASSES[c],
                    })
                    .clone()
            })
        });
        let bytes = std::array::from_fn(|s| {
            self.bytes
                .get_or_create(&BytesLabels {
                    site: SiteName(label.clone()),
                    source: site::SOURCES[s],
                })
                .clone()
        });
        let site_label = SiteLabel {
            site: SiteName(label.clone()),
        };
        let made = Arc::new(SiteMetrics {
            label: label.clone(),
            requests,
            bytes,
            results: self.results.clone(),
            hit_fresh: self
                .results
                .get_or_create(&ResultLabels {
                    site: SiteName(label.clone()),
                    outcome: "hit",
                    reason: "fresh",
                })
                .clone(),
            origin_first_byte: self.origin_first_byte.get_or_create(&site_label).clone(),
            request_duration: self.request_duration.get_or_create(&site_label).clone(),
        });
        sites.insert(label, made.clone());
        made
    }

    /// Count an accepted purge.
    pub fn purge(&self, kind: &'static str, soft: bool) {
        let mode = if soft { "soft" } else { "hard" };
        self.purges.get_or_create(&PurgeLabels { kind, mode }).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 << 10);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}
