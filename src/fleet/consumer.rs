//! Reading the fleet's stream: one durable pull consumer per node (named
//! after it), messages applied in stream order, each purge at most once.
//! A message is acknowledged only after what it did (or that it was
//! skipped) is durable in the purge database.

use super::plan::{self, Start};
use super::{Envelope, Fleet};
use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use storage::{BanMatch, Source};

/// Most messages handled in one step (one blocking task, one durable
/// position record when none of them applies anything).
const CHUNK: usize = 256;

/// Consume forever, reconnecting after any failure.
pub async fn run(fleet: Arc<Fleet>, js: jetstream::Context) {
    let started_ms = crate::clock::unix_nanos() / 1_000_000;
    let mut backoff = Duration::from_millis(100);
    loop {
        match consume(&fleet, &js, started_ms).await {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::warn!(error = %e, "fleet: reading the purge stream failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// The stream as this node creates it when it is missing.
pub fn stream_config(fleet: &Fleet) -> stream::Config {
    stream::Config {
        name: fleet.cfg.stream.clone(),
        subjects: vec![fleet.cfg.subject.clone()],
        max_age: Duration::from_secs(fleet.cfg.retention_secs),
        num_replicas: fleet.cfg.replicas,
        duplicate_window: Duration::from_secs(120),
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn consume(
    fleet: &Arc<Fleet>,
    js: &jetstream::Context,
    started_ms: u64,
) -> Result<(), BoxError> {
    let mut stream = js.get_or_create_stream(stream_config(fleet)).await?;
    let info = stream.info().await?;
    let stream_id = u64::try_from(info.created.unix_timestamp_nanos())
        .unwrap_or(1)
        .max(1);
    let first_seq = info.state.first_sequence;
    let durable = fleet.node_id.clone();
    let existing = stream.get_consumer::<pull::Config>(&durable).await.ok();
    let recorded = blocking(fleet, |f| f.purge.stream_position()).await?;
    let p = plan::plan(
        (recorded.stream_id, recorded.seq),
        stream_id,
        first_seq,
        existing.is_some(),
        started_ms,
    );
    if let Some(id) = p.join {
        blocking(fleet, move |f| f.purge.join_stream(id)).await?;
    }
    if p.gap {
        soft_purge_everything(
            fleet,
            "the stream was re-created or expired purges this node had not read",
        )
        .await?;
    }
    let mut consumer = match existing {
        Some(c) => c,
        None => {
            let deliver_policy = match p.start {
                Start::Existing | Start::All => jetstream::consumer::DeliverPolicy::All,
                Start::FromSeq(n) => {
                    jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence: n }
                }
                Start::FromTime(ms) => jetstream::consumer::DeliverPolicy::ByStartTime {
                    start_time: time::OffsetDateTime::from_unix_timestamp_nanos(
                        i128::from(ms) * 1_000_000,
                    )
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
                },
            };
            stream
                .create_consumer(pull::Config {
                    durable_name: Some(durable.clone()),
                    deliver_policy,
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    ..Default::default()
                })
                .await?
        }
    };
    fleet
        .counters
        .consumer_starts
        .fetch_add(1, Ordering::Relaxed);
    let ci = consumer.info().await?;
    fleet
        .counters
        .consumer_pending
        .store(ci.num_pending, Ordering::Relaxed);
    if ci.num_pending == 0 && ci.num_ack_pending == 0 {
        mark_caught_up(fleet);
    }
    let mut last = if p.join.is_some() { 0 } else { recorded.seq };
    fleet.position.store(last, Ordering::Release);
    let mut messages = consumer.messages().await?.ready_chunks(CHUNK);
    while let Some(chunk) = messages.next().await {
        let mut batch = Vec::with_capacity(chunk.len());
        for m in chunk {
            batch.push(m?);
        }
        last = handle(fleet, batch, last).await?;
    }
    Err("the consumer's message stream ended".into())
}

/// What one stream message came to.
enum Outcome {
    Applied,
    Skipped,
    Rejected,
}

/// Apply a chunk in stream order, make it durable, then acknowledge each
/// message to the stream and each applied purge to the node that made it.
async fn handle(
    fleet: &Arc<Fleet>,
    batch: Vec<jetstream::Message>,
    mut last: u64,
) -> Result<u64, BoxError> {
    let mut work = Vec::with_capacity(batch.len());
    for m in &batch {
        let info = m.info()?;
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_string())
            .unwrap_or_else(|| format!("stream-{}", info.stream_sequence));
        let published_ns = info.published.unix_timestamp_nanos();
        work.push((
            info.stream_sequence,
            info.pending,
            published_ns,
            id,
            m.payload.to_vec(),
        ));
    }
    let last_before = last;
    let outcomes = {
        let fleet = fleet.clone();
        tokio::task::spawn_blocking(move || apply_all(&fleet, work, last_before)).await??
    };
    // Every purge of the batch is in force here now.
    let read_to = outcomes.iter().map(|o| o.0).max().unwrap_or(last);
    fleet.position.fetch_max(read_to, Ordering::AcqRel);
    for (m, (seq, pending, outcome, ack_to)) in batch.iter().zip(outcomes) {
        last = last.max(seq);
        match outcome {
            Outcome::Applied => fleet.counters.applied.fetch_add(1, Ordering::Relaxed),
            Outcome::Skipped => fleet.counters.skipped.fetch_add(1, Ordering::Relaxed),
            Outcome::Rejected => fleet.counters.rejected.fetch_add(1, Ordering::Relaxed),
        };
        m.ack().await?;
        if let Some((node, id)) = ack_to {
            fleet
                .presence
                .send_ack(&fleet.ack_subject(&node), &id)
                .await;
        }
        fleet
            .counters
            .consumer_pending
            .store(pending, Ordering::Relaxed);
        if pending == 0 {
            mark_caught_up(fleet);
        }
    }
    Ok(last)
}

type Done = (u64, u64, Outcome, Option<(String, String)>);

/// The blocking half of [`handle`]: decode and apply each message.
fn apply_all(
    fleet: &Fleet,
    work: Vec<(u64, u64, i128, String, Vec<u8>)>,
    mut last: u64,
) -> Result<Vec<Done>, storage::PurgeError> {
    let mut out = Vec::with_capacity(work.len());
    for (seq, pending, published_ns, id, payload) in work {
        if seq <= last {
            // Redelivered: read (and recorded) before.
            out.push((seq, pending, Outcome::Skipped, None));
            continue;
        }
        last = seq;
        let env = match Envelope::decode(&payload) {
            Ok(env) => env,
            Err(why) => {
                tracing::warn!(seq, id, reason = why.as_str(), detail = ?why, "fleet: unreadable purge message skipped");
                out.push((seq, pending, Outcome::Rejected, None));
                continue;
            }
        };
        if env.node == fleet.node_id {
            out.push((seq, pending, Outcome::Skipped, None));
            continue;
        }
        let source = Source::Stream { id: &id, seq };
        let applied =
            crate::purge::execute(&fleet.store, &fleet.purge, &env.op, env.soft, &source)?;
        let outcome = if applied.is_some() {
            let now_ns = i128::from(crate::clock::unix_nanos());
            let secs = ((now_ns - published_ns).max(0) as f64) / 1e9;
            fleet.observe_propagation(secs);
            fleet
                .counters
                .last_propagation_ms
                .store((secs * 1000.0) as u64, Ordering::Relaxed);
            tracing::debug!(id, seq, kind = env.op.kind(), from = %env.node, "fleet: purge applied");
            Outcome::Applied
        } else {
            Outcome::Skipped
        };
        let ack_to = env.ack.then(|| (env.node.clone(), id.clone()));
        out.push((seq, pending, outcome, ack_to));
    }
    // One durable commit for the whole batch (the purges above were
    // committed without waiting for the disk), before any acknowledgement.
    // A batch that applied nothing (this node's own purges) needs none:
    // read again after a crash, it is skipped again.
    let applied = out.iter().any(|o| matches!(o.2, Outcome::Applied));
    fleet.purge.record_stream_position(last, applied)?;
    Ok(out)
}

async fn soft_purge_everything(fleet: &Arc<Fleet>, why: &str) -> Result<(), BoxError> {
    tracing::warn!(why, "fleet: soft-purging every stored object");
    fleet.counters.gaps.fetch_add(1, Ordering::Relaxed);
    blocking(fleet, |f| {
        f.purge.ban(storage::ALL_SCOPES, BanMatch::All, true)
    })
    .await?;
    Ok(())
}

fn mark_caught_up(fleet: &Fleet) {
    if !fleet.caught_up.swap(true, Ordering::AcqRel) {
        tracing::info!(node = %fleet.node_id, "fleet: caught up with the purge stream");
    }
}

async fn blocking<T: Send + 'static>(
    fleet: &Arc<Fleet>,
    f: impl FnOnce(&Fleet) -> Result<T, storage::PurgeError> + Send + 'static,
) -> Result<T, BoxError> {
    let fleet = fleet.clone();
    Ok(tokio::task::spawn_blocking(move || f(&fleet)).await??)
}
