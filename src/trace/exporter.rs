//! The exporter task: takes finished spans from the queue, batches them
//! (`max_batch_spans`, or whatever came within `flush_interval_ms`) and
//! sends each batch, one at a time, within `export_timeout_ms`. While a
//! batch is in flight the queue fills; past `max_queue_spans` new spans
//! are dropped on the request path. A failed batch is dropped and counted,
//! never retried: a collector that is down costs nothing but the count.
//! Told to stop, it sends what is queued and ends.

use super::Tracer;
use super::collector_client::CollectorClient;
use super::otlp;
use super::record::SpanRecord;
use crate::config::TracingConfig;
use prost::Message;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Export spans from `rx` until `stop` or until every sender is gone.
pub async fn run(
    mut rx: mpsc::Receiver<SpanRecord>,
    mut stop: watch::Receiver<bool>,
    tracer: Weak<Tracer>,
    cfg: TracingConfig,
) {
    let client = match CollectorClient::new(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "tracing: cannot build the collector client; no span will be exported");
            return;
        }
    };
    let exporter = Exporter {
        client,
        tracer,
        cfg: &cfg,
    };
    let max = cfg.max_batch_spans;
    let flush = Duration::from_millis(cfg.flush_interval_ms);
    let mut batch = Vec::with_capacity(max);
    let mut open = true;
    while open {
        // Wait for a first span, then for the batch to fill or its time.
        tokio::select! {
            n = rx.recv_many(&mut batch, max) => if n == 0 { return },
            _ = stop.wait_for(|s| *s) => break,
        }
        let deadline = crate::clock::timer_now() + flush;
        while batch.len() < max {
            let room = max - batch.len();
            tokio::select! {
                n = tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)) => match n {
                    Ok(0) => { open = false; break }
                    Ok(_) => {}
                    Err(_) => break,
                },
                _ = stop.wait_for(|s| *s) => { open = false; break }
            }
        }
        exporter.export(std::mem::take(&mut batch)).await;
        batch.reserve(max);
    }
    // Stopping: send what is queued, in batches, and take no more.
    rx.close();
    while rx.recv_many(&mut batch, max).await > 0 || !batch.is_empty() {
        exporter.export(std::mem::take(&mut batch)).await;
    }
}

/// Sends batches and counts the outcome.
struct Exporter<'a> {
    client: CollectorClient,
    tracer: Weak<Tracer>,
    cfg: &'a TracingConfig,
}

impl Exporter<'_> {
    async fn export(&self, batch: Vec<SpanRecord>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let message = otlp::request(&self.cfg.service_name, batch).encode_to_vec();
        let timeout = Duration::from_millis(self.cfg.export_timeout_ms);
        let outcome = match tokio::time::timeout(timeout, self.client.send(message)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer within {} ms",
                self.cfg.export_timeout_ms
            )),
        };
        let Some(t) = self.tracer.upgrade() else {
            return;
        };
        match outcome {
            Ok(()) => {
                t.spans_exported.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                let failures = t.export_failures.fetch_add(1, Ordering::Relaxed);
                t.spans_dropped.fetch_add(n, Ordering::Relaxed);
                // Once, then every 100th: a collector that is down must
                // not flood the log.
                if failures % 100 == 0 {
                    tracing::warn!(error = %e, spans = n, failures = failures + 1, "tracing: span export failed; spans dropped");
                }
            }
        }
    }
}
