//! The node's gauges and counters that live in its parts (the store, the
//! origin client, tunnels, the tracer, the access log, connection caps),
//! written at scrape time through `metrics::NodeCollector`.

use crate::live::Live;
use crate::metrics::node_collector::{Reader, counter, gauge};
use crate::server::conn_limits::ConnLimits;
use prometheus_client::encoding::DescriptorEncoder;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

/// Reads the node in force from `live` at each scrape.
pub fn pipeline(live: Weak<Live>) -> Reader {
    Box::new(move |e| match live.upgrade() {
        Some(live) => write_node(e, &live),
        None => Ok(()),
    })
}

/// Reads the client connections of `limits` at each scrape.
pub fn connections(c: Arc<ConnLimits>) -> Reader {
    Box::new(move |e| {
        gauge(
            e,
            "connections_open",
            "Client connections open now (all listeners).",
            c.open() as u64,
        )?;
        counter(
            e,
            "connections_refused",
            "Client connections refused by a connection cap.",
            c.refused(),
        )?;
        Ok(())
    })
}

fn write_node(e: &mut DescriptorEncoder, live: &Live) -> std::fmt::Result {
    let pipeline = live.pipeline();
    let s = pipeline.services.store.stats();
    counter(
        e,
        "store_memory_hits",
        "Lookups answered from the memory tier.",
        s.memory_hits,
    )?;
    counter(
        e,
        "store_disk_hits",
        "Lookups answered from the disk tier.",
        s.disk_hits,
    )?;
    counter(e, "store_misses", "Lookups that found nothing.", s.misses)?;
    counter(e, "store_inserts", "Objects stored.", s.inserts)?;
    counter(e, "store_removes", "Objects removed.", s.removes)?;
    counter(
        e,
        "store_checksum_failures",
        "Damaged disk entries found.",
        s.checksum_failures,
    )?;
    counter(
        e,
        "store_read_errors",
        "Disk reads that failed.",
        s.read_errors,
    )?;
    counter(
        e,
        "store_oversize_rejects",
        "Objects too large to store.",
        s.oversize_rejects,
    )?;
    counter(
        e,
        "store_chunked_objects",
        "Objects stored in chunks (bodies longer than storage.chunk_bytes).",
        s.chunked_objects,
    )?;
    counter(
        e,
        "store_lost_chunks",
        "Chunks of a stored object found missing while serving it (the response is cut, the object removed).",
        s.lost_chunks,
    )?;
    counter(
        e,
        "store_disk_write_drops",
        "Disk writes the store dropped because its write queue or buffers were full (the object stays in memory only).",
        s.disk_write_drops,
    )?;
    counter(
        e,
        "store_disk_writes",
        "Entries submitted to the disk tier for writing.",
        s.disk_writes_enqueued,
    )?;
    gauge(
        e,
        "store_memory_bytes",
        "Bytes held by the memory tier.",
        s.memory_bytes,
    )?;
    gauge(
        e,
        "store_disk_enabled",
        "1 when the disk tier is in use, 0 when it could not be opened.",
        u64::from(pipeline.services.store.disk_disabled().is_none()),
    )?;
    gauge(
        e,
        "purge_sequence",
        "Purges recorded so far (the purge log's sequence number).",
        pipeline.services.purge.current_seq(),
    )?;
    let up = &pipeline.upstream;
    counter(
        e,
        "upstream_overloaded",
        "Requests refused because their origin was at its concurrency limit.",
        up.overloaded.load(Ordering::Relaxed),
    )?;
    counter(
        e,
        "upstream_retries",
        "Idempotent requests retried after a connection failure.",
        up.retries.load(Ordering::Relaxed),
    )?;
    let t = &up.timeouts;
    counter(
        e,
        "upstream_head_timeouts",
        "Origin response heads that missed the first-byte or total deadline.",
        t.head.load(Ordering::Relaxed),
    )?;
    counter(
        e,
        "upstream_idle_timeouts",
        "Origin bodies cut for idling.",
        t.idle.load(Ordering::Relaxed),
    )?;
    counter(
        e,
        "upstream_total_timeouts",
        "Origin exchanges cut at the total deadline.",
        t.total.load(Ordering::Relaxed),
    )?;
    let ws = &pipeline.services.tunnels;
    counter(
        e,
        "websocket_tunnels_opened",
        "WebSocket tunnels established (the origin switched protocols).",
        ws.opened.load(Ordering::Relaxed),
    )?;
    counter(
        e,
        "websocket_tunnels_refused",
        "WebSocket handshakes refused by a tunnel limit (503).",
        ws.refused.load(Ordering::Relaxed),
    )?;
    counter(
        e,
        "websocket_tunnels_closed_idle",
        "WebSocket tunnels closed by websocket.idle_timeout_secs.",
        ws.closed_idle.load(Ordering::Relaxed),
    )?;
    gauge(
        e,
        "websocket_tunnels_open",
        "WebSocket tunnels open now (handshakes in progress included).",
        ws.open() as u64,
    )?;
    let tr = &pipeline.services.tracer;
    counter(
        e,
        "trace_spans_exported",
        "Spans the OTLP collector accepted.",
        tr.spans_exported.load(Ordering::Relaxed),
    )?;
    counter(
        e,
        "trace_spans_dropped",
        "Spans lost: the export queue was full, or their export failed.",
        tr.spans_dropped.load(Ordering::Relaxed),
    )?;
    counter(
        e,
        "trace_export_failures",
        "OTLP export requests that failed (collector unreachable, error answer, timeout).",
        tr.export_failures.load(Ordering::Relaxed),
    )?;
    let (written, dropped, failed) = pipeline.services.access_log.counts();
    counter(e, "access_log_lines", "Access-log lines written.", written)?;
    counter(
        e,
        "access_log_dropped",
        "Access-log lines dropped because the queue was full (the writer fell behind).",
        dropped,
    )?;
    counter(
        e,
        "access_log_failed",
        "Access-log lines lost to write errors (a full disk, a missing directory).",
        failed,
    )?;
    counter(
        e,
        "surrogate_key_overflow",
        "Surrogate keys dropped for exceeding the per-object limits.",
        pipeline.surrogate_key_overflow.load(Ordering::Relaxed),
    )?;
    if let Some(f) = &pipeline.services.fleet {
        crate::metrics::fleet_gauges::encode(e, f, &pipeline.services.purge)?;
    }
    Ok(())
}
