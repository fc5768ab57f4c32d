//! Counters kept by other parts of the node (the store, the origin client,
//! tunnels, connection caps), read at scrape time from the node in force.

use crate::live::Live;
use crate::server::conn_limits::ConnLimits;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::sync::atomic::Ordering;
use std::sync::{OnceLock, Weak};

/// Reads the node in force and the connection caps when scraped.
#[derive(Default)]
pub struct NodeCollector {
    live: OnceLock<Weak<Live>>,
    connections: OnceLock<std::sync::Arc<ConnLimits>>,
}

impl std::fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCollector").finish_non_exhaustive()
    }
}

impl NodeCollector {
    /// Read the node in force from `live` (set once, at start).
    pub fn watch(&self, live: Weak<Live>) {
        let _ = self.live.set(live);
    }

    /// Report the open connections of `limits` (set once, at start).
    pub fn watch_connections(&self, limits: std::sync::Arc<ConnLimits>) {
        let _ = self.connections.set(limits);
    }
}

pub(super) fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: u64,
) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    let m = e.encode_descriptor(name, help.trim_end_matches('.'), None, c.metric_type())?;
    c.encode(m)
}

pub(super) fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    let m = e.encode_descriptor(name, help.trim_end_matches('.'), None, g.metric_type())?;
    g.encode(m)
}

impl Collector for NodeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(c) = self.connections.get() {
            gauge(
                &mut e,
                "connections_open",
                "Client connections open now (all listeners).",
                c.open() as u64,
            )?;
            counter(
                &mut e,
                "connections_refused",
                "Client connections refused by a connection cap.",
                c.refused(),
            )?;
        }
        let Some(node) = self.live.get().and_then(Weak::upgrade).map(|l| l.node()) else {
            return Ok(());
        };
        let s = node.store.stats();
        counter(
            &mut e,
            "store_memory_hits",
            "Lookups answered from the memory tier.",
            s.memory_hits,
        )?;
        counter(
            &mut e,
            "store_disk_hits",
            "Lookups answered from the disk tier.",
            s.disk_hits,
        )?;
        counter(
            &mut e,
            "store_misses",
            "Lookups that found nothing.",
            s.misses,
        )?;
        counter(&mut e, "store_inserts", "Objects stored.", s.inserts)?;
        counter(&mut e, "store_removes", "Objects removed.", s.removes)?;
        counter(
            &mut e,
            "store_checksum_failures",
            "Damaged disk entries found.",
            s.checksum_failures,
        )?;
        counter(
            &mut e,
            "store_read_errors",
            "Disk reads that failed.",
            s.read_errors,
        )?;
        counter(
            &mut e,
            "store_oversize_rejects",
            "Objects too large to store.",
            s.oversize_rejects,
        )?;
        counter(
            &mut e,
            "store_chunked_objects",
            "Objects stored in chunks (bodies longer than storage.chunk_bytes).",
            s.chunked_objects,
        )?;
        counter(
            &mut e,
            "store_lost_chunks",
            "Chunks of a stored object found missing while serving it (the response is cut, the object removed).",
            s.lost_chunks,
        )?;
        counter(
            &mut e,
            "store_disk_write_drops",
            "Disk writes the store dropped because its write queue or buffers were full (the object stays in memory only).",
            s.disk_write_drops,
        )?;
        counter(
            &mut e,
            "store_disk_writes",
            "Entries submitted to the disk tier for writing.",
            s.disk_writes_enqueued,
        )?;
        gauge(
            &mut e,
            "store_memory_bytes",
            "Bytes held by the memory tier.",
            s.memory_bytes,
        )?;
        gauge(
            &mut e,
            "store_disk_enabled",
            "1 when the disk tier is in use, 0 when it could not be opened.",
            u64::from(node.store.disk_disabled().is_none()),
        )?;
        gauge(
            &mut e,
            "purge_sequence",
            "Purges recorded so far (the purge log's sequence number).",
            node.purge.current_seq(),
        )?;
        let up = &node.upstream;
        counter(
            &mut e,
            "upstream_overloaded",
            "Requests refused because their origin was at its concurrency limit.",
            up.overloaded.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "upstream_retries",
            "Idempotent requests retried after a connection failure.",
            up.retries.load(Ordering::Relaxed),
        )?;
        let t = &up.timeouts;
        counter(
            &mut e,
            "upstream_head_timeouts",
            "Origin response heads that missed the first-byte or total deadline.",
            t.head.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "upstream_idle_timeouts",
            "Origin bodies cut for idling.",
            t.idle.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "upstream_total_timeouts",
            "Origin exchanges cut at the total deadline.",
            t.total.load(Ordering::Relaxed),
        )?;
        let ws = &node.tunnels;
        counter(
            &mut e,
            "websocket_tunnels_opened",
            "WebSocket tunnels established (the origin switched protocols).",
            ws.opened.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "websocket_tunnels_refused",
            "WebSocket handshakes refused by a tunnel limit (503).",
            ws.refused.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "websocket_tunnels_closed_idle",
            "WebSocket tunnels closed by websocket.idle_timeout_secs.",
            ws.closed_idle.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut e,
            "websocket_tunnels_open",
            "WebSocket tunnels open now (handshakes in progress included).",
            ws.open() as u64,
        )?;
        let tr = &node.tracer;
        counter(
            &mut e,
            "trace_spans_exported",
            "Spans the OTLP collector accepted.",
            tr.spans_exported.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "trace_spans_dropped",
            "Spans lost: the export queue was full, or their export failed.",
            tr.spans_dropped.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "trace_export_failures",
            "OTLP export requests that failed (collector unreachable, error answer, timeout).",
            tr.export_failures.load(Ordering::Relaxed),
        )?;
        let (written, dropped, failed) = node.access_log.counts();
        counter(
            &mut e,
            "access_log_lines",
            "Access-log lines written.",
            written,
        )?;
        counter(
            &mut e,
            "access_log_dropped",
            "Access-log lines dropped because the queue was full (the writer fell behind).",
            dropped,
        )?;
        counter(
            &mut e,
            "access_log_failed",
            "Access-log lines lost to write errors (a full disk, a missing directory).",
            failed,
        )?;
        counter(
            &mut e,
            "surrogate_key_overflow",
            "Surrogate keys dropped for exceeding the per-object limits.",
            node.surrogate_key_overflow.load(Ordering::Relaxed),
        )?;
        if let Some(f) = &node.fleet {
            super::fleet::encode(&mut e, f, &node.purge)?;
        }
        Ok(())
    }
}
