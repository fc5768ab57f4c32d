//! OpenTelemetry tracing: a server span per request, a client span per
//! origin exchange, W3C Trace Context propagation, and OTLP export off the
//! request path.
//!
//! The request path only builds small span records and hands them to a
//! bounded queue with `try_send` (a full queue drops the span and counts
//! it); one exporter task batches them and sends them to the collector.
//! When `[tracing] enabled = false` every entry point returns after one
//! branch. docs/tracing.md describes what is exported.

pub mod cache_outcome;
pub mod client_span;
mod collector_client;
pub mod context;
mod exporter;
pub mod ids;
mod otlp;
pub mod record;
pub mod server_span;
pub mod traceparent;

pub use client_span::ClientSpan;
pub use context::{TraceContext, within};
pub use server_span::{ServerSpan, SpanEnd, end_server, start_server};

use crate::config::{TracingConfig, TrustIncoming};
use ids::TraceId;
use record::SpanRecord;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// The node's tracer: sampling settings, the export queue, and the export
/// counters. It outlives config reloads (the queue and its exporter task
/// belong to the process, not to one config).
pub struct Tracer {
    /// `None` when tracing is off.
    settings: Option<Settings>,
    queue: Option<mpsc::Sender<SpanRecord>>,
    /// Tells the exporter to send what is queued and stop.
    stop: Option<tokio::sync::watch::Sender<bool>>,
    /// The exporter task, awaited by [`Tracer::shutdown`].
    exporter: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// How long the final export may take.
    export_timeout: std::time::Duration,
    /// Spans the collector accepted.
    pub spans_exported: AtomicU64,
    /// Spans lost: the queue was full, or their export failed.
    pub spans_dropped: AtomicU64,
    /// Export requests that failed (collector unreachable, error status,
    /// timeout).
    pub export_failures: AtomicU64,
}

/// The per-request decisions' inputs, from `[tracing]`.
#[derive(Clone, Copy, Debug)]
struct Settings {
    /// `sample_ratio` = 1.0.
    sample_all: bool,
    /// A trace is sampled when the low 64 bits of its id are below this.
    threshold: u64,
    always_sample_errors: bool,
    trust: TrustIncoming,
}

impl Tracer {
    /// A tracer that records nothing (tracing off).
    pub fn disabled() -> Arc<Tracer> {
        Arc::new(Tracer {
            settings: None,
            queue: None,
            stop: None,
            exporter: parking_lot::Mutex::new(None),
            export_timeout: std::time::Duration::ZERO,
            spans_exported: AtomicU64::new(0),
            spans_dropped: AtomicU64::new(0),
            export_failures: AtomicU64::new(0),
        })
    }

    /// A tracer for `cfg` (validated), with its exporter task spawned on
    /// the current runtime; disabled when `cfg.enabled` is false. The task
    /// ends when the tracer is dropped.
    pub fn start(cfg: &TracingConfig) -> Arc<Tracer> {
        if !cfg.enabled {
            return Tracer::disabled();
        }
        let settings = Settings {
            sample_all: cfg.sample_ratio >= 1.0,
            // Saturating float-to-int cast: 0.0 gives 0 (never sampled).
            threshold: (cfg.sample_ratio * 18_446_744_073_709_551_616.0) as u64,
            always_sample_errors: cfg.always_sample_errors,
            trust: cfg.trust_incoming,
        };
        let (tx, rx) = mpsc::channel(cfg.max_queue_spans);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let export_timeout = std::time::Duration::from_millis(cfg.export_timeout_ms);
        let cfg = cfg.clone();
        Arc::new_cyclic(|weak| {
            let task = tokio::spawn(exporter::run(rx, stopped, weak.clone(), cfg));
            Tracer {
                settings: Some(settings),
                queue: Some(tx),
                stop: Some(stop),
                exporter: parking_lot::Mutex::new(Some(task)),
                export_timeout,
                spans_exported: AtomicU64::new(0),
                spans_dropped: AtomicU64::new(0),
                export_failures: AtomicU64::new(0),
            }
        })
    }

    /// Send the spans still queued (within `export_timeout_ms`) and stop
    /// the exporter; spans finished afterwards are dropped and counted.
    /// For the end of the process: the node calls it once it has drained.
    pub async fn shutdown(&self) {
        let Some(stop) = &self.stop else {
            return;
        };
        let _ = stop.send(true);
        let task = self.exporter.lock().take();
        if let Some(task) = task {
            // The final export is bounded by export_timeout; allow a little more.
            let limit = self.export_timeout + std::time::Duration::from_secs(1);
            let _ = tokio::time::timeout(limit, task).await;
        }
    }

    /// Is tracing on?
    pub fn enabled(&self) -> bool {
        self.settings.is_some()
    }

    /// Is a new trace with this id sampled (`sample_ratio`)?
    fn sampled(&self, s: &Settings, id: TraceId) -> bool {
        s.sample_all || id.low() < s.threshold
    }

    /// Queue a finished span for export, never waiting: a full queue drops
    /// it and counts the drop.
    fn submit(&self, span: SpanRecord) {
        let Some(q) = &self.queue else {
            return;
        };
        if q.try_send(span).is_err() {
            self.spans_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
