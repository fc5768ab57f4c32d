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

use crate::http_cache::CachedResponse;
use bytes::Bytes;
use http_body::{Body, Frame};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use storage::ObjectKey;

/// The response head a flight shares with its readers: the response as it
/// is stored (status, stored header fields, selecting request values, times),
/// so a follower is answered exactly as a hit on the stored copy would be.
#[derive(Clone, Debug)]
pub struct Head {
    /// The stored response's metadata.
    pub meta: Arc<CachedResponse>,
}

/// A reader slot's state: free, reading at a chunk index, or detached for
/// falling too far behind.
const DETACHED: usize = usize::MAX;

#[derive(Default)]
struct State {
    head: Option<Arc<Head>>,
    /// The leader gave up (uncacheable, failed, or dropped): followers go alone.
    released: bool,
    /// Index of the first chunk still held.
    base: usize,
    chunks: VecDeque<Bytes>,
    /// Byte offset of each held chunk in the body.
    starts: VecDeque<u64>,
    /// Bytes pushed so far.
    pushed: u64,
    held_bytes: usize,
    done: Option<Result<(), String>>,
    accepting: bool,
    /// Next chunk index of each reader (None: slot free).
    readers: Vec<Option<usize>>,
    wakers: Vec<Waker>,
}

/// One in-progress fetch that several clients share.
pub struct Flight {
    state: Mutex<State>,
    head_ready: tokio::sync::Notify,
    /// Signalled when a reader advances or leaves: the pump may have room.
    progress: tokio::sync::Notify,
    limit: usize,
}

impl Flight {
    fn new(limit: usize) -> Flight {
        Flight {
            state: Mutex::new(State {
                accepting: true,
                ..State::default()
            }),
            head_ready: tokio::sync::Notify::new(),
            progress: tokio::sync::Notify::new(),
            limit,
        }
    }

    /// Wait (at most `timeout`) for the head. `None`: go upstream alone.
    pub async fn wait_head(&self, timeout: Duration) -> Option<Arc<Head>> {
        let wait = async {
            loop {
                let notified = self.head_ready.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                {
                    let st = self.state.lock();
                    if st.released {
                        return None;
                    }
                    if let Some(h) = &st.head {
                        return Some(h.clone());
                    }
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    /// A body that streams this flight from its first byte, or `None` when
    /// the flight no longer accepts readers.
    pub fn reader(self: &Arc<Self>) -> Option<FlightBody> {
        let mut st = self.state.lock();
        if !st.accepting || st.base > 0 {
            return None;
        }
        let slot = match st.readers.iter().position(Option::is_none) {
            Some(i) => {
                st.readers[i] = Some(0);
                i
            }
            None => {
                st.readers.push(Some(0));
                st.readers.len() - 1
            }
        };
        Some(FlightBody {
            flight: self.clone(),
            slot,
        })
    }

    fn publish(&self, head: Head) {
        self.state.lock().head = Some(Arc::new(head));
        self.head_ready.notify_waiters();
    }

    fn release(&self) {
        self.state.lock().released = true;
        self.head_ready.notify_waiters();
    }

    fn push(&self, chunk: Bytes) {
        let wakers = {
            let mut st = self.state.lock();
            let len = chunk.len();
            st.held_bytes += len;
            let start = st.pushed;
            st.starts.push_back(start);
            st.chunks.push_back(chunk);
            st.pushed += len as u64;
            if st.held_bytes > self.limit {
                st.accepting = false;
            }
            self.detach_laggards(&mut st);
            Self::trim(&mut st);
            std::mem::take(&mut st.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Byte offset of chunk index `idx`.
    fn offset(st: &State, idx: usize) -> u64 {
        st.starts
            .get(idx.saturating_sub(st.base))
            .copied()
            .unwrap_or(st.pushed)
    }

    /// The byte position of the fastest reader, if any reads.
    fn fastest(st: &State) -> Option<u64> {
        st.readers
            .iter()
            .flatten()
            .filter(|r| **r != DETACHED)
            .max()
            .map(|r| Self::offset(st, *r))
    }

    /// Detach readers more than the limit behind the fastest one: their
    /// clients stopped reading (or read far slower than the others), and
    /// must not hold the body in memory.
    fn detach_laggards(&self, st: &mut State) {
        let Some(fastest) = Self::fastest(st) else {
            return;
        };
        let limit = self.limit as u64;
        let mut detached = 0usize;
        for i in 0..st.readers.len() {
            if let Some(r) = st.readers[i]
                && r != DETACHED
                && fastest - Self::offset(st, r) > limit
            {
                st.readers[i] = Some(DETACHED);
                detached += 1;
            }
        }
        if detached > 0 {
            tracing::debug!(detached, "collapsed readers too far behind: detached");
        }
    }

    /// Wait until the fastest reader is less than the limit behind the pump
    /// (or nobody reads: the fill then runs at the origin's pace), so the
    /// shared fetch follows its fastest client like an uncollapsed one.
    async fn room(&self) {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.state.lock();
                match Self::fastest(&st) {
                    Some(pos) if st.pushed - pos >= self.limit as u64 => {}
                    _ => return,
                }
            }
            notified.await;
        }
    }

    /// Readers detached so far for falling behind (for tests and metrics).
    pub fn detached_readers(&self) -> usize {
        self.state
            .lock()
            .readers
            .iter()
            .flatten()
            .filter(|r| **r == DETACHED)
            .count()
    }

    fn finish(&self, result: Result<(), String>) {
        let wakers = {
            let mut st = self.state.lock();
            st.done = Some(result);
            std::mem::take(&mut st.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Drop chunks every reader has passed, once no new reader can join.
    fn trim(st: &mut State) {
        if st.accepting {
            return;
        }
        let min = st
            .readers
            .iter()
            .flatten()
            .copied()
            .filter(|r| *r != DETACHED)
            .min()
            .unwrap_or(st.base + st.chunks.len());
        while st.base < min {
            let Some(c) = st.chunks.pop_front() else {
                break;
            };
            st.held_bytes -= c.len();
            st.starts.pop_front();
            st.base += 1;
        }
    }
}

/// A client's view of a flight's body.
pub struct FlightBody {
    flight: Arc<Flight>,
    slot: usize,
}

impl Body for FlightBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut st = self.flight.state.lock();
        let Some(next) = st.readers.get(self.slot).copied().flatten() else {
            return Poll::Ready(None);
        };
        if next == DETACHED {
            return Poll::Ready(Some(Err(std::io::Error::other(
                "reader fell too far behind the shared fetch",
            ))));
        }
        if next >= st.base && next < st.base + st.chunks.len() {
            let chunk = st.chunks[next - st.base].clone();
            st.readers[self.slot] = Some(next + 1);
            Flight::trim(&mut st);
            drop(st);
            self.flight.progress.notify_one();
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        match &st.done {
            Some(Ok(())) => Poll::Ready(None),
            Some(Err(e)) => Poll::Ready(Some(Err(std::io::Error::other(e.clone())))),
            None => {
                st.wakers.push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for FlightBody {
    fn drop(&mut self) {
        let mut st = self.flight.state.lock();
        if let Some(r) = st.readers.get_mut(self.slot) {
            *r = None;
        }
        Flight::trim(&mut st);
        drop(st);
        self.flight.progress.notify_one();
    }
}

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

    /// Hit-for-pass marks held now.
    pub fn pass_marks(&self) -> usize {
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
