//! An origin as a pool of servers: load balancing (round robin or
//! least-outstanding by power of two choices), a circuit breaker per server
//! fed by passive health (request outcomes) and optional active checks, and
//! the origin's concurrency limit.

use crate::config::Balance;
use http::Uri;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Circuit-breaker settings.
#[derive(Clone, Copy, Debug)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// How long an open breaker refuses requests before one probe is let through.
    pub cooldown: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Breaker {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// Cooldown over: one probe request is in flight.
    HalfOpen,
}

/// One origin server.
#[derive(Debug)]
pub struct Server {
    /// `scheme://authority` of the server.
    pub uri: Uri,
    /// Its pooled keep-alive connections.
    pub conns: Arc<crate::upstream::conn_pool::ConnPool>,
    outstanding: AtomicUsize,
    breaker: Mutex<Breaker>,
}

impl Server {
    /// Requests in flight to this server.
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Is the breaker closed (the server considered healthy)?
    pub fn healthy(&self) -> bool {
        matches!(*self.breaker.lock(), Breaker::Closed { .. })
    }

    fn admit(&self, now: Instant) -> bool {
        let mut b = self.breaker.lock();
        match *b {
            Breaker::Closed { .. } => true,
            Breaker::Open { until } if now >= until => {
                *b = Breaker::HalfOpen;
                true
            }
            Breaker::Open { .. } | Breaker::HalfOpen => false,
        }
    }

    fn record(&self, ok: bool, now: Instant, cfg: BreakerConfig) {
        let mut b = self.breaker.lock();
        *b = match (*b, ok) {
            (_, true) => Breaker::Closed { failures: 0 },
            (Breaker::Closed { failures }, false) if failures + 1 < cfg.failures => {
                Breaker::Closed {
                    failures: failures + 1,
                }
            }
            (Breaker::Open { until }, false) => Breaker::Open { until },
            (_, false) => {
                tracing::warn!(server = %self.uri, "circuit opened");
                Breaker::Open {
                    until: now + cfg.cooldown,
                }
            }
        };
    }
}

/// Held while a request is in flight to a server; its outcome feeds the
/// server's breaker through [`InFlight::record`]. Dropped without an outcome
/// (the client went away before the response head), a half-open breaker's
/// probe is given back, so the next request probes again: otherwise the
/// breaker would stay half-open, and the server unused, for good.
pub struct InFlight {
    server: Arc<Server>,
    breaker: BreakerConfig,
    recorded: bool,
}

impl InFlight {
    /// Feed this request's outcome to the server's breaker.
    pub fn record(mut self, ok: bool, now: Instant) {
        self.recorded = true;
        self.server.record(ok, now, self.breaker);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.server.outstanding.fetch_sub(1, Ordering::Relaxed);
        if !self.recorded {
            let mut b = self.server.breaker.lock();
            if matches!(*b, Breaker::HalfOpen) {
                *b = Breaker::Open {
                    until: crate::clock::instant(),
                };
            }
        }
    }
}

/// An origin: its servers and how to use them.
#[derive(Debug)]
pub struct Origin {
    servers: Vec<Arc<Server>>,
    balance: Balance,
    breaker: BreakerConfig,
    next: AtomicUsize,
    /// The origin's concurrency limit, if any.
    pub limit: Option<Arc<tokio::sync::Semaphore>>,
}

impl Origin {
    /// A pool over `servers` (at least one), each with its connections.
    pub fn new(
        servers: Vec<(Uri, crate::upstream::conn_pool::ConnPool)>,
        balance: Balance,
        breaker: BreakerConfig,
        max_concurrency: usize,
    ) -> Origin {
        Origin {
            servers: servers
                .into_iter()
                .map(|(uri, conns)| {
                    Arc::new(Server {
                        conns: Arc::new(conns),
                        uri,
                        outstanding: AtomicUsize::new(0),
                        breaker: Mutex::new(Breaker::Closed { failures: 0 }),
                    })
                })
                .collect(),
            balance,
            breaker,
            next: AtomicUsize::new(0),
            limit: (max_concurrency > 0)
                .then(|| Arc::new(tokio::sync::Semaphore::new(max_concurrency))),
        }
    }

    /// The servers.
    pub fn servers(&self) -> &[Arc<Server>] {
        &self.servers
    }

    /// Does every server speak HTTP/2 (as gRPC needs)?
    pub fn speaks_h2(&self) -> bool {
        self.servers.iter().all(|s| s.conns.speaks_h2())
    }

    /// The first server's authority, for a Host field naming the origin.
    pub fn authority(&self) -> Option<&str> {
        self.servers
            .first()
            .and_then(|s| s.uri.authority())
            .map(|a| a.as_str())
    }

    /// `https` when the first server is reached over TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        match self.servers.first().and_then(|s| s.uri.scheme_str()) {
            Some("https") => "https",
            _ => "http",
        }
    }

    /// Choose a server whose breaker admits a request, avoiding `avoid`
    /// (a server that just failed) when another is available.
    pub fn pick(&self, now: Instant, avoid: Option<usize>) -> Option<usize> {
        let n = self.servers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let order: Vec<usize> = (0..n)
            .map(|i| (start + i) % n)
            .filter(|i| Some(*i) != avoid)
            .collect();
        let mut candidates = order.iter().copied();
        let first = match self.balance {
            Balance::RoundRobin => None,
            Balance::LeastOutstanding => {
                // Power of two choices, both in round-robin order.
                let mut two: Vec<usize> = order.iter().copied().take(2).collect();
                two.sort_by_key(|i| self.servers[*i].outstanding());
                two.into_iter().find(|i| self.servers[*i].admit(now))
            }
        };
        first
            .or_else(|| candidates.find(|i| self.servers[*i].admit(now)))
            .or_else(|| avoid.filter(|i| self.servers[*i].admit(now)))
    }

    /// Does server `i`'s breaker admit a request now? (An open breaker past
    /// its cooldown admits this one as its probe.) For callers that choose
    /// the server themselves, as the tier's hash order does.
    pub fn admit(&self, i: usize, now: Instant) -> bool {
        self.servers[i].admit(now)
    }

    /// Mark a request to server `i` as in flight.
    pub fn start(&self, i: usize) -> InFlight {
        let server = self.servers[i].clone();
        server.outstanding.fetch_add(1, Ordering::Relaxed);
        InFlight {
            server,
            breaker: self.breaker,
            recorded: false,
        }
    }

    /// An active health check's verdict: a failed check opens the breaker at
    /// once (for the cooldown); a passed one closes it.
    pub fn mark(&self, i: usize, healthy: bool, now: Instant) {
        let server = &self.servers[i];
        let mut b = server.breaker.lock();
        *b = if healthy {
            Breaker::Closed { failures: 0 }
        } else {
            Breaker::Open {
                until: now + self.breaker.cooldown,
            }
        };
    }

    /// Feed an outcome to server `i`'s breaker.
    pub fn record(&self, i: usize, ok: bool, now: Instant) {
        self.servers[i].record(ok, now, self.breaker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize, balance: Balance) -> Origin {
        use crate::config::Protocol;
        use crate::upstream::conn_pool::{ConnPool, ConnSettings};
        let settings = ConnSettings {
            connect_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_idle: 1,
        };
        let servers = (0..n)
            .map(|i| {
                let uri: Uri = format!("http://10.0.0.{i}:80").parse().expect("uri");
                let conns = ConnPool::new(&uri, settings, Protocol::Http1, None);
                (uri, conns)
            })
            .collect();
        let breaker = BreakerConfig {
            failures: 3,
            cooldown: Duration::from_secs(10),
        };
        Origin::new(servers, balance, breaker, 0)
    }

    #[test]
    fn round_robin_spreads_and_skips_open_breakers() {
        let p = pool(3, Balance::RoundRobin);
        let t0 = crate::clock::instant();
        let picks: Vec<usize> = (0..6).filter_map(|_| p.pick(t0, None)).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
        for _ in 0..3 {
            p.record(1, false, t0);
        }
        assert!(!p.servers()[1].healthy());
        let picks: Vec<usize> = (0..4).filter_map(|_| p.pick(t0, None)).collect();
        assert!(!picks.contains(&1), "open breaker skipped: {picks:?}");
    }

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let p = pool(1, Balance::RoundRobin);
        let t0 = crate::clock::instant();
        p.record(0, false, t0);
        p.record(0, false, t0);
        assert!(p.servers()[0].healthy(), "below the threshold");
        p.record(0, false, t0);
        assert_eq!(p.pick(t0, None), None, "open: refused");
        let later = t0 + Duration::from_secs(11);
        assert_eq!(p.pick(later, None), Some(0), "cooldown over: one probe");
        assert_eq!(p.pick(later, None), None, "only one probe at a time");
        p.record(0, true, later);
        assert!(p.servers()[0].healthy(), "probe succeeded: closed");
        assert_eq!(p.pick(later, None), Some(0));
    }

    /// A half-open probe whose request is dropped before its outcome (the
    /// client disconnected) gives the probe back instead of leaving the
    /// breaker half-open, and the server unused, forever.
    #[test]
    fn an_abandoned_probe_does_not_stick_half_open() {
        let p = pool(1, Balance::RoundRobin);
        let t0 = crate::clock::instant();
        for _ in 0..3 {
            p.record(0, false, t0);
        }
        let later = t0 + Duration::from_secs(11);
        assert_eq!(p.pick(later, None), Some(0), "cooldown over: one probe");
        let probe = p.start(0);
        assert_eq!(p.pick(later, None), None, "only one probe at a time");
        drop(probe);
        let now = crate::clock::instant().max(later);
        assert_eq!(p.pick(now, None), Some(0), "the next request probes again");
        p.start(0).record(true, now);
        assert!(p.servers()[0].healthy(), "a recorded success closes it");
    }

    #[test]
    fn least_outstanding_prefers_idle_servers_and_avoid_is_honoured() {
        let p = pool(2, Balance::LeastOutstanding);
        let t0 = crate::clock::instant();
        let _busy = (p.start(0), p.start(0));
        for _ in 0..4 {
            assert_eq!(p.pick(t0, None), Some(1));
        }
        assert_eq!(
            p.pick(t0, Some(1)),
            Some(0),
            "a failed server is avoided when another exists"
        );
        let single = pool(1, Balance::LeastOutstanding);
        assert_eq!(
            single.pick(t0, Some(0)),
            Some(0),
            "with one server, retry the same one"
        );
    }
}
