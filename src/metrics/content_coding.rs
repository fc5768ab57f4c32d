//! `edgecache_content_coding_forms_total{coding, outcome}` and
//! `edgecache_content_coding_transcode_seconds_total`: the forms of stored
//! responses made in other content codings (docs/encodings.md), and the CPU
//! time spent making them.

use crate::http_cache::content_coding::Coding;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// What happened to a client's request for a form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormOutcome {
    /// Transcoded now, stored and served.
    Made,
    /// Served from a form made earlier.
    Reused,
    /// Could not be made (past `max_bytes` decoded, or corrupt input): the
    /// stored form was served, and a marker stops retries.
    Failed,
    /// Kept for the refreshed copy after a 304 revalidation, not made again.
    Carried,
}

impl FormOutcome {
    /// Every outcome, in label order.
    pub const ALL: [FormOutcome; 4] = [
        FormOutcome::Made,
        FormOutcome::Reused,
        FormOutcome::Failed,
        FormOutcome::Carried,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FormOutcome::Made => "made",
            FormOutcome::Reused => "reused",
            FormOutcome::Failed => "failed",
            FormOutcome::Carried => "carried",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FormLabels {
    coding: &'static str,
    outcome: &'static str,
}

/// The content-coding counters (every label pair present from the start).
#[derive(Debug)]
pub struct ContentCodingMetrics {
    forms: [[Counter; FormOutcome::ALL.len()]; Coding::ALL.len()],
    transcode_seconds: Counter<f64, AtomicU64>,
}

impl ContentCodingMetrics {
    /// Register the families in `registry`.
    pub fn register(registry: &mut Registry) -> ContentCodingMetrics {
        let family = Family::<FormLabels, Counter>::default();
        registry.register(
            "content_coding_forms",
            "Forms of stored responses in another content coding, by coding (gzip, br, zstd, identity) and outcome (made, reused, failed, carried across a 304)",
            family.clone(),
        );
        let transcode_seconds = Counter::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "content_coding_transcode",
            "Time spent decoding and encoding to make forms (on the blocking pool)",
            Unit::Seconds,
            transcode_seconds.clone(),
        );
        let forms = Coding::ALL.map(|c| {
            FormOutcome::ALL.map(|o| {
                family
                    .get_or_create(&FormLabels {
                        coding: c.as_str(),
                        outcome: o.as_str(),
                    })
                    .clone()
            })
        });
        ContentCodingMetrics {
            forms,
            transcode_seconds,
        }
    }

    /// Count one form of `coding` with `outcome`.
    pub fn count(&self, coding: Coding, outcome: FormOutcome) {
        let c = Coding::ALL.iter().position(|x| *x == coding);
        let o = FormOutcome::ALL.iter().position(|x| *x == outcome);
        if let (Some(c), Some(o)) = (c, o) {
            self.forms[c][o].inc();
        }
    }

    /// Add time spent transcoding.
    pub fn add_transcode_time(&self, spent: Duration) {
        self.transcode_seconds.inc_by(spent.as_secs_f64());
    }
}
