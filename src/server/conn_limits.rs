//! Caps on concurrent client connections, in total and per client IP.
//!
//! A connection over a cap is accepted and closed at once, with no answer:
//! closing is cheaper than an HTTP error, and a client that opened that
//! many connections is not waiting for one. Refusals are counted and logged
//! at most once a second. The per-IP table is touched once when a
//! connection opens and once when it closes, never per request.

use crate::clock;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::Notify;

/// Which cap refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// `server.max_connections`.
    Total,
    /// `server.max_connections_per_ip`.
    PerIp,
}

impl Refused {
    /// The name used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Total => "max_connections",
            Refused::PerIp => "max_connections_per_ip",
        }
    }
}

/// The open-connection counts of one listener.
#[derive(Debug)]
pub struct ConnLimits {
    max_total: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    refused: AtomicU64,
    /// Milliseconds after `started` of the last refusal log line.
    logged_ms: AtomicU64,
    started: Instant,
    /// Woken when the last connection closes (for the shutdown drain).
    idle: Notify,
}

/// One open connection's place under the caps; released on drop.
#[derive(Debug)]
pub struct ConnPermit {
    limits: Arc<ConnLimits>,
    ip: IpAddr,
}

// === impl ConnLimits ===

impl ConnLimits {
    /// Caps of `max_total` connections and `max_per_ip` from one address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(ConnLimits {
            max_total,
            max_per_ip,
            total: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
            logged_ms: AtomicU64::new(0),
            started: clock::instant(),
            idle: Notify::new(),
        })
    }

    /// Admit a connection from `ip`, or say which cap refuses it (counted
    /// and logged at most once a second).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refused> {
        let verdict = self.try_admit(ip);
        if let Err(why) = verdict {
            let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
            let since = clock::instant().saturating_duration_since(self.started);
            let now_ms = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
            let last = self.logged_ms.load(Ordering::Relaxed);
            if (refused == 1 || now_ms.saturating_sub(last) >= 1000)
                && self
                    .logged_ms
                    .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::warn!(
                    cap = why.as_str(),
                    %ip,
                    refused_total = refused,
                    "connection refused: too many open connections"
                );
            }
        }
        verdict
    }

    fn try_admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refused> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.release_total();
            return Err(Refused::Total);
        }
        let mut per_ip = self.per_ip.lock();
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            drop(per_ip);
            self.release_total();
            return Err(Refused::PerIp);
        }
        *n += 1;
        Ok(ConnPermit {
            limits: self.clone(),
            ip,
        })
    }

    fn release_total(&self) {
        if self.total.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Connections refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Resolves once no connection is open.
    pub async fn all_closed(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        {
            let mut per_ip = self.limits.per_ip.lock();
            if let Some(n) = per_ip.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&self.ip);
                }
            }
        }
        self.limits.release_total();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_apply_in_total_and_per_address_and_free_on_drop() {
        let limits = ConnLimits::new(3, 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = limits.admit(a).expect("first");
        let _a2 = limits.admit(a).expect("second");
        assert_eq!(limits.admit(a).err(), Some(Refused::PerIp));
        let _b1 = limits.admit(b).expect("other address");
        assert_eq!(limits.admit(b).err(), Some(Refused::Total));
        assert_eq!(limits.refused(), 2);
        drop(a1);
        assert_eq!(limits.open(), 2);
        limits.admit(b).expect("a slot freed");
    }
}
