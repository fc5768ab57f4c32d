//! Sending the outbox to the stream: oldest first, each purge with its
//! fleet id as `Nats-Msg-Id` (JetStream drops a repeat within its
//! duplicate window; receivers drop any later repeat by id), taken out of
//! the outbox only once the stream has acknowledged it.

use super::{Fleet, fleet_id};
use async_nats::jetstream::{self, message::PublishMessage};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Most purges sent before waiting for the stream's acknowledgements.
const BATCH: usize = 256;

/// Publish forever.
pub async fn run(fleet: Arc<Fleet>, js: jetstream::Context) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let batch = {
            let f = fleet.clone();
            tokio::task::spawn_blocking(move || f.purge.outbox(BATCH)).await
        };
        let batch = match batch {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "fleet: cannot read the outbox");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "fleet: outbox task failed");
                continue;
            }
        };
        if batch.is_empty() {
            // Woken by the next purge; the timeout is a safety net.
            let _ =
                tokio::time::timeout(Duration::from_secs(1), fleet.outbox_wake.notified()).await;
            continue;
        }
        match publish(&fleet, &js, batch).await {
            Ok(sent) => {
                backoff = Duration::from_millis(100);
                let f = fleet.clone();
                let removed =
                    tokio::task::spawn_blocking(move || f.purge.outbox_remove(&sent)).await;
                match removed {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "fleet: cannot empty the outbox"),
                    Err(e) => tracing::error!(error = %e, "fleet: outbox task failed"),
                }
            }
            Err((sent, e)) => {
                fleet
                    .counters
                    .publish_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, queued = "outbox", "fleet: publishing purges failed; retrying");
                if !sent.is_empty() {
                    let f = fleet.clone();
                    let _ = tokio::task::spawn_blocking(move || f.purge.outbox_remove(&sent)).await;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Send `batch` in order, then wait for the stream's acknowledgements.
/// Returns the ids the stream took; on failure, those taken before it.
async fn publish(
    fleet: &Fleet,
    js: &jetstream::Context,
    batch: Vec<(u64, Vec<u8>)>,
) -> Result<Vec<u64>, (Vec<u64>, String)> {
    let mut pending = Vec::with_capacity(batch.len());
    let mut failure = None;
    for (id, payload) in batch {
        let msg_id = fleet_id(&fleet.node_id, fleet.epoch, id);
        let publish = PublishMessage::build()
            .payload(payload.into())
            .message_id(msg_id);
        match js.send_publish(fleet.cfg.subject.clone(), publish).await {
            Ok(ack) => pending.push((id, ack)),
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    let mut sent = Vec::with_capacity(pending.len());
    for (id, ack) in pending {
        match ack.await {
            Ok(_) => {
                fleet.counters.published.fetch_add(1, Ordering::Relaxed);
                sent.push(id);
            }
            Err(e) => {
                // Later ones may have been stored too; they stay in the
                // outbox and are sent again (and dropped as duplicates).
                failure.get_or_insert(e.to_string());
                break;
            }
        }
    }
    match failure {
        None => Ok(sent),
        Some(e) => Err((sent, e)),
    }
}
