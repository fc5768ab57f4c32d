//! Request collapsing: concurrent misses for the same key make one origin
//! request, and every waiting client streams that response as it arrives.
//!
//! The first request for a key leads: it fetches, and once the response head
//! shows the response is storable it hands the origin body to a background
//! pump that feeds a shared [`Flight`] (and the store). The leader's own client
//! and every follower read the flight, so a client that disconnects never
//! cuts the fill short. When the response is not storable the followers are
//! released at once to go upstream themselves, and a short "hit-for-pass"
//! memory lets later requests for that key skip the wait altogether.
//!
//! Memory: a flight keeps the chunks it has received so that late followers
//! can start from the beginning. Once it holds more than its limit it stops
//! accepting followers and drops the chunks every reader has passed. A reader
//! that falls more than the limit behind the pump (a client that stopped
//! reading) is detached: its response is cut, so one stalled client never
//! holds the object in memory nor slows the others.
//!
//! Who may share: the leader publishes a head only when the response is
//! stored and fresh ([`crate::http_cache::admission`]); each follower checks
//! that its own request selects that variant and accepts it without
//! validation before reading.

mod flight;

use bytes::Bytes;
pub use flight::{Flight, FlightBody, Head};
use http_body::Body;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use storage::ObjectKey;

/// What a missed request should do.
pub enum Join {
    /// Fetch, and share the response.
    Lead(Leader),
    /// Another request is fetching this key: wait for its head.
    Follow(Arc<Flight>),
    /// Go upstream alone without waiting (recently uncacheable, or the
    /// flight is too far along to join).
    Alone,
}

/// Most hit-for-pass marks held at once (about 3 MiB of table).
pub const MAX_PASS_MARKS: usize = 65_536;

/// The collapsing table, shared by all requests.
pub struct Collapser {
    flights: Mutex<HashMap<ObjectKey, Arc<Flight>>>,
    pass_until: Mutex<HashMap<ObjectKey, Instant>>,
    refreshing: Mutex<HashSet<ObjectKey>>,
    /// How long a follower waits for the leader's response head.
    pub wait_timeout: Duration,
    hit_for_pass: Duration,
    limit: usize,
}

impl Collapser {
    /// A table whose flights hold at most `limit` bytes for late joiners.
    pub fn new(wait_timeout: Duration, hit_for_pass: Duration, limit: usize) -> Arc<Collapser> {
        Arc::new(Collapser {
            flights: Mutex::new(HashMap::new()),
            pass_until: Mutex::new(HashMap::new()),
            refreshing: Mutex::new(HashSet::new()),
            wait_timeout,
            hit_for_pass,
            limit,
        })
    }

    /// Join the flight for `key`, or start one.
    pub fn join(self: &Arc<Self>, key: ObjectKey, now: Instant) -> Join {
        {
            let mut pass = self.pass_until.lock();
            match pass.get(&key) {
                Some(until) if *until > now => return Join::Alone,
                Some(_) => {
                    pass.remove(&key);
                }
                None => {}
            }
        }
        let mut flights = self.flights.lock();
        if let Some(f) = flights.get(&key) {
            return Join::Follow(f.clone());
        }
        let flight = Arc::new(Flight::new(self.limit));
        flights.insert(key, flight.clone());
        Join::Lead(Leader {
            key,
            flight,
            table: self.clone(),
            released: false,
        })
    }

    /// Is `key` in hit-for-pass now? Nothing storable came for it lately, so
    /// its requests skip the store lookup and collapsing.
    pub fn passing(&self, key: &ObjectKey, now: Instant) -> bool {
        self.pass_until
            .lock()
            .get(key)
            .is_some_and(|until| *until > now)
    }

    /// Hit-for-pass marks held now (the table's own tests).
    #[cfg(test)]
    fn pass_marks(&self) -> usize {
        self.pass_until.lock().len()
    }

    /// A storable response arrived for `key`: it is no longer hit-for-pass.
    pub fn stored(&self, key: &ObjectKey) {
        let mut pass = self.pass_until.lock();
        if !pass.is_empty() {
            pass.remove(key);
        }
    }

    /// Claim the background refresh of `key`; false when one is running.
    pub fn start_refresh(&self, key: ObjectKey) -> bool {
        self.refreshing.lock().insert(key)
    }

    /// The background refresh of `key` ended.
    pub fn end_refresh(&self, key: &ObjectKey) {
        self.refreshing.lock().remove(key);
    }

    fn forget(&self, key: &ObjectKey, flight: &Arc<Flight>) {
        let mut flights = self.flights.lock();
        if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            flights.remove(key);
        }
    }
}

/// The request that fetches for a flight. Dropping it without sharing a
/// response releases the followers.
pub struct Leader {
    key: ObjectKey,
    flight: Arc<Flight>,
    table: Arc<Collapser>,
    released: bool,
}

impl Leader {
    /// The response is not shareable: release followers now, and let later
    /// requests for the key skip collapsing for a while (hit-for-pass).
    pub fn pass(mut self, now: Instant) {
        {
            let mut pass = self.table.pass_until.lock();
            if pass.len() >= MAX_PASS_MARKS {
                // Bounded: uncacheable URLs with endless query strings must not
                // grow the table. Expired marks go first; if that leaves it
                // three-quarters full it starts over (a lost mark costs one
                // collapsing wait).
                // Clearing well below the bound keeps this scan rare even when
                // most marks are live.
                pass.retain(|_, until| *until > now);
                if pass.len() >= MAX_PASS_MARKS / 4 * 3 {
                    pass.clear();
                }
            }
            pass.insert(self.key, now + self.table.hit_for_pass);
        }
        self.released = true;
        self.table.forget(&self.key, &self.flight);
        self.flight.release();
    }

    /// Share `head` and stream `body` to every reader from a background task.
    /// Returns the leader's own reader.
    pub fn share<B>(mut self, head: Head, body: B) -> Option<FlightBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display,
    {
        self.released = true;
        let own = self.flight.reader();
        self.flight.publish(head);
        let (flight, table, key) = (self.flight.clone(), self.table.clone(), self.key);
        tokio::spawn(async move {
            let mut body = body;
            let result = loop {
                flight.room().await;
                match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            flight.push(data);
                        }
                    }
                    Some(Err(e)) => break Err(e.to_string()),
                    None => break Ok(()),
                }
            };
            // Later requests find the stored object (or miss) from now on.
            table.forget(&key, &flight);
            flight.finish(result);
        });
        own
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.released {
            self.table.forget(&self.key, &self.flight);
            self.flight.release();
        }
    }
}

#[cfg(test)]
mod tests;
