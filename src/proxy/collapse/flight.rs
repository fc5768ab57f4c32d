//! One shared fetch: the chunks it has received, its readers' positions,
//! and the rules that bound its memory (see the parent module's docs).

use crate::http_cache::CachedResponse;
use bytes::Bytes;
use http_body::{Body, Frame};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

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
pub(super) const DETACHED: usize = usize::MAX;

/// A reader that has taken nothing for this long while the flight waits on
/// it has stopped reading (socket buffers can hide a stall for megabytes,
/// so how far behind it is says nothing by itself).
const STALL: Duration = Duration::from_millis(500);

#[derive(Default)]
pub(super) struct State {
    pub(super) head: Option<Arc<Head>>,
    /// The leader gave up (uncacheable, failed, or dropped): followers go alone.
    pub(super) released: bool,
    /// Index of the first chunk still held.
    pub(super) base: usize,
    pub(super) chunks: VecDeque<Bytes>,
    /// Byte offset of each held chunk in the body.
    pub(super) starts: VecDeque<u64>,
    /// Bytes pushed so far.
    pub(super) pushed: u64,
    pub(super) held_bytes: usize,
    pub(super) done: Option<Result<(), String>>,
    pub(super) accepting: bool,
    /// Next chunk index of each reader (None: slot free).
    pub(super) readers: Vec<Option<usize>>,
    /// When each reader last took a chunk (or joined).
    pub(super) progressed: Vec<std::time::Instant>,
    pub(super) wakers: Vec<Waker>,
}

/// One in-progress fetch that several clients share.
pub struct Flight {
    pub(super) state: Mutex<State>,
    head_ready: tokio::sync::Notify,
    /// Signalled when a reader advances or leaves: the pump may have room.
    progress: tokio::sync::Notify,
    limit: usize,
}

impl Flight {
    pub(super) fn new(limit: usize) -> Flight {
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
        let n = st.readers.len();
        st.progressed.resize(n, crate::clock::instant());
        st.progressed[slot] = crate::clock::instant();
        Some(FlightBody {
            flight: self.clone(),
            slot,
        })
    }

    pub(super) fn publish(&self, head: Head) {
        self.state.lock().head = Some(Arc::new(head));
        self.head_ready.notify_waiters();
    }

    pub(super) fn release(&self) {
        self.state.lock().released = true;
        self.head_ready.notify_waiters();
    }

    pub(super) fn push(&self, chunk: Bytes) {
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

    /// Detach readers the limit behind the fastest one that have also taken
    /// nothing for [`STALL`]: their clients stopped reading, and must not
    /// hold the body in memory. Position alone says nothing: a client that
    /// stopped reading can be the fastest for a while, its socket buffers
    /// taking megabytes, and a reading client a moment late is then far
    /// behind it (the cause of the old `slow_reader_memory` flake).
    fn detach_laggards(&self, st: &mut State) {
        let Some(fastest) = Self::fastest(st) else {
            return;
        };
        let limit = self.limit as u64;
        let mut detached = 0usize;
        let now = crate::clock::instant();
        for i in 0..st.readers.len() {
            let stalled = st
                .progressed
                .get(i)
                .is_none_or(|t| now.duration_since(*t) >= STALL);
            if let Some(r) = st.readers[i]
                && r != DETACHED
                && stalled
                && fastest - Self::offset(st, r) >= limit
            {
                st.readers[i] = Some(DETACHED);
                detached += 1;
            }
        }
        if detached > 0 {
            tracing::debug!(detached, "collapsed readers too far behind: detached");
        }
    }

    /// Wait until the slowest attached reader is less than the limit behind
    /// the pump (or nobody reads: the fill then runs at the origin's pace).
    /// A reader that stalls there for [`STALL`] is detached, so the shared
    /// fetch follows its slowest reading client, and memory stays within
    /// the limit.
    pub(super) async fn room(&self) {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.state.lock();
                let slowest = st
                    .readers
                    .iter()
                    .flatten()
                    .filter(|r| **r != DETACHED)
                    .min()
                    .map(|r| Self::offset(&st, *r));
                match slowest {
                    Some(pos) if st.pushed - pos >= self.limit as u64 => {
                        self.detach_laggards(&mut st);
                        Self::trim(&mut st);
                    }
                    _ => return,
                }
            }
            let _ = tokio::time::timeout(STALL, notified).await;
        }
    }

    /// Readers detached so far for falling behind (the table's own tests).
    #[cfg(test)]
    pub(super) fn detached_readers(&self) -> usize {
        self.state
            .lock()
            .readers
            .iter()
            .flatten()
            .filter(|r| **r == DETACHED)
            .count()
    }

    pub(super) fn finish(&self, result: Result<(), String>) {
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
    pub(super) flight: Arc<Flight>,
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
            if let Some(t) = st.progressed.get_mut(self.slot) {
                *t = crate::clock::instant();
            }
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
