//! Who is in the fleet now, and who applied what: every node announces
//! itself on `<subject>.presence.<id>` at `presence_interval_ms`; a node
//! unheard for three intervals counts as down. Nodes acknowledge applied
//! purges on `<subject>.ack.<id of the node that made it>`, which
//! `?wait=fleet` waits for.

use super::Fleet;
use futures_util::StreamExt;
use parking_lot::Mutex;
use purge_api::FleetWait;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Most nodes tracked (announcements beyond are ignored).
const MAX_NODES: usize = 4096;
/// Most purges with acknowledgements remembered.
const MAX_ACKED: usize = 65_536;
/// How long acknowledgements are kept for a late waiter.
const ACK_KEPT: Duration = Duration::from_secs(600);

#[derive(Serialize, Deserialize)]
struct Announce {
    node: String,
    caught_up: bool,
}

#[derive(Serialize, Deserialize)]
struct Ack {
    id: String,
    node: String,
}

/// The acknowledgements of one purge, and its waiters' wake-up.
struct Acks {
    first: Instant,
    nodes: BTreeSet<String>,
    notify: Arc<Notify>,
}

impl Acks {
    fn new(now: Instant) -> Acks {
        Acks {
            first: now,
            nodes: BTreeSet::new(),
            notify: Arc::new(Notify::new()),
        }
    }
}

/// Live nodes and acknowledgements.
pub struct Presence {
    me: String,
    interval: Duration,
    seen: Mutex<HashMap<String, Instant>>,
    acks: Mutex<HashMap<String, Acks>>,
    client: Mutex<Option<async_nats::Client>>,
}

impl Presence {
    pub(super) fn new(me: &str, interval: Duration) -> Presence {
        Presence {
            me: me.to_string(),
            interval,
            seen: Mutex::new(HashMap::new()),
            acks: Mutex::new(HashMap::new()),
            client: Mutex::new(None),
        }
    }

    /// Nodes heard from within three intervals, this one included.
    pub fn live(&self) -> BTreeSet<String> {
        let now = crate::clock::instant();
        let mut live: BTreeSet<String> = self
            .seen
            .lock()
            .iter()
            .filter(|(_, t)| now.duration_since(**t) < self.interval * 3)
            .map(|(n, _)| n.clone())
            .collect();
        live.insert(self.me.clone());
        live
    }

    /// Nodes heard from once, but not lately.
    fn down(&self, live: &BTreeSet<String>) -> BTreeSet<String> {
        self.seen
            .lock()
            .keys()
            .filter(|n| !live.contains(*n))
            .cloned()
            .collect()
    }

    fn acked_by(&self, id: &str) -> BTreeSet<String> {
        let mut set = self
            .acks
            .lock()
            .get(id)
            .map(|a| a.nodes.clone())
            .unwrap_or_default();
        set.insert(self.me.clone());
        set
    }

    /// The entry of purge `id` (made on first use), pruning old entries
    /// when the table is full. `None` when it is full of recent ones.
    fn entry<'a>(
        acks: &'a mut HashMap<String, Acks>,
        id: &str,
        now: Instant,
    ) -> Option<&'a mut Acks> {
        if !acks.contains_key(id) {
            if acks.len() >= MAX_ACKED {
                acks.retain(|_, a| now.duration_since(a.first) < ACK_KEPT);
            }
            if acks.len() >= MAX_ACKED {
                return None;
            }
            acks.insert(id.to_string(), Acks::new(now));
        }
        acks.get_mut(id)
    }

    fn record_ack(&self, ack: Ack) {
        let now = crate::clock::instant();
        let notify = {
            let mut acks = self.acks.lock();
            Self::entry(&mut acks, &ack.id, now).map(|a| {
                a.nodes.insert(ack.node);
                a.notify.clone()
            })
        };
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }

    /// The wake-up of purge `id`'s waiters.
    fn notifier(&self, id: &str) -> Arc<Notify> {
        let now = crate::clock::instant();
        let mut acks = self.acks.lock();
        Self::entry(&mut acks, id, now)
            .map(|a| a.notify.clone())
            .unwrap_or_else(|| Arc::new(Notify::new()))
    }

    fn record_announce(&self, a: Announce) {
        let mut seen = self.seen.lock();
        if seen.len() < MAX_NODES || seen.contains_key(&a.node) {
            seen.insert(a.node, crate::clock::instant());
        }
    }

    /// Acknowledge purge `id` to the node that made it.
    pub(super) async fn send_ack(&self, subject: &str, id: &str) {
        let client = self.client.lock().clone();
        let Some(client) = client else { return };
        let body = serde_json::to_vec(&Ack {
            id: id.to_string(),
            node: self.me.clone(),
        })
        .unwrap_or_default();
        if let Err(e) = client.publish(subject.to_string(), body.into()).await {
            tracing::debug!(error = %e, "fleet: acknowledgement not sent");
        }
    }

    /// Wait until every live node acknowledged `id`, or `timeout`.
    pub async fn wait(&self, id: &str, timeout: Duration) -> FleetWait {
        let start = crate::clock::instant();
        let deadline = crate::clock::timer_now() + timeout;
        let notify = self.notifier(id);
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let live = self.live();
            let acked = self.acked_by(id);
            let missing: Vec<String> = live.difference(&acked).cloned().collect();
            let done = missing.is_empty();
            let late = crate::clock::timer_now() >= deadline;
            if done || late {
                let down = self.down(&live).difference(&acked).cloned().collect();
                return FleetWait {
                    acked: acked.into_iter().collect(),
                    timed_out: missing,
                    down,
                    waited_ms: (start.elapsed().as_secs_f64() * 100_000.0).round() / 100.0,
                };
            }
            // Re-check when an ack arrives, at the deadline, or when a node
            // may have gone quiet.
            let step = crate::clock::timer_now() + self.interval;
            let _ = tokio::time::timeout_at(deadline.min(step), notified).await;
        }
    }
}

/// Announce this node and listen to the others' announcements and to
/// acknowledgements of this node's purges.
pub async fn run(fleet: Arc<Fleet>, client: async_nats::Client) {
    *fleet.presence.client.lock() = Some(client.clone());
    let subject = &fleet.cfg.subject;
    let presence_all = format!("{subject}.presence.*");
    let acks = fleet.ack_subject(&fleet.node_id);
    let mut backoff = Duration::from_millis(100);
    loop {
        let subs = async {
            Ok::<_, async_nats::SubscribeError>((
                client.subscribe(presence_all.clone()).await?,
                client.subscribe(acks.clone()).await?,
            ))
        };
        let (mut announce_sub, mut ack_sub) = match subs.await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "fleet: cannot subscribe; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        let mine = format!("{subject}.presence.{}", fleet.node_id);
        let mut tick = tokio::time::interval(fleet.presence.interval);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let body = serde_json::to_vec(&Announce {
                        node: fleet.node_id.clone(),
                        caught_up: fleet.caught_up(),
                    })
                    .unwrap_or_default();
                    let _ = client.publish(mine.clone(), body.into()).await;
                }
                m = announce_sub.next() => match m {
                    Some(m) => {
                        if let Ok(a) = serde_json::from_slice::<Announce>(&m.payload)
                            && a.node != fleet.node_id
                        {
                            fleet.presence.record_announce(a);
                        }
                    }
                    None => break,
                },
                m = ack_sub.next() => match m {
                    Some(m) => {
                        if let Ok(a) = serde_json::from_slice::<Ack>(&m.payload) {
                            fleet.presence.record_ack(a);
                        }
                    }
                    None => break,
                },
            }
        }
    }
}
