//! The fleet's gauges and counters, read at scrape time.

use super::node_collector::{counter, gauge};
use crate::fleet::Fleet;
use prometheus_client::encoding::DescriptorEncoder;
use std::sync::atomic::Ordering;

/// Encode `fleet`'s state; `purge` answers the outbox depth.
pub fn encode(
    e: &mut DescriptorEncoder,
    fleet: &Fleet,
    purge: &storage::PurgeStore,
) -> std::fmt::Result {
    let c = &fleet.counters;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    gauge(
        e,
        "fleet_outbox_depth",
        "Purges made here and not yet taken by the fleet's stream (NATS unreachable, or catching up).",
        purge.outbox_depth().unwrap_or(0),
    )?;
    gauge(
        e,
        "fleet_consumer_pending",
        "Purges the stream holds that this node has not read yet (consumer lag), as last reported.",
        load(&c.consumer_pending),
    )?;
    gauge(
        e,
        "fleet_caught_up",
        "1 once this node has read every purge it missed while away.",
        u64::from(fleet.caught_up()),
    )?;
    gauge(
        e,
        "fleet_live_nodes",
        "Fleet nodes heard from lately, this one included.",
        fleet.live_nodes() as u64,
    )?;
    gauge(
        e,
        "fleet_last_propagation_milliseconds",
        "From the stream receiving the last applied purge to its being applied here.",
        load(&c.last_propagation_ms),
    )?;
    counter(
        e,
        "fleet_published",
        "Purges made here and taken by the stream.",
        load(&c.published),
    )?;
    counter(
        e,
        "fleet_publish_failures",
        "Publish attempts that failed and were retried.",
        load(&c.publish_failures),
    )?;
    counter(
        e,
        "fleet_applied",
        "Purges from other nodes applied here.",
        load(&c.applied),
    )?;
    counter(
        e,
        "fleet_skipped",
        "Stream messages not applied: this node's own purges and duplicates.",
        load(&c.skipped),
    )?;
    counter(
        e,
        "fleet_rejected",
        "Stream messages that were not readable purges.",
        load(&c.rejected),
    )?;
    counter(
        e,
        "fleet_gaps",
        "Times this node soft-purged everything because purges it had not read were gone from the stream.",
        load(&c.gaps),
    )?;
    counter(
        e,
        "fleet_consumer_starts",
        "Times the consumer (re)attached to the stream.",
        load(&c.consumer_starts),
    )
}
