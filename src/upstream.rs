//! The upstream layer: origins and the connections to them. This file
//! sends requests to an origin: server choice, concurrency limits,
//! first-byte and total timeouts, retries within a budget, and circuit
//! breaker bookkeeping. An origin and its servers are in `origin`, the
//! connections to one server in `conn_pool` (HTTP/1.1) and `h2_conn`
//! (HTTP/2), opened by `dial` with `origin_tls`. The pipeline asks this
//! layer for a response and never touches a socket itself.

pub mod conn_pool;
pub mod dial;
pub mod h2_conn;
pub mod origin;
pub mod origin_tls;
pub mod send_error;
pub mod timed_body;

use crate::body::Body;
use crate::config::UpstreamConfig;
use crate::error::UpstreamError;
use crate::upstream::conn_pool::SendError;
use crate::upstream::origin::Origin;
use crate::upstream::timed_body::{TimedBody, TimeoutCounters};
use http::{Request, Response, Uri};
use std::sync::Arc;
use std::time::Duration;

/// Builds the request again for a retry (bodiless idempotent requests only).
pub type Replay<'a> = dyn Fn() -> Request<Body> + Send + Sync + 'a;

/// Sends requests to origins, with the node's timeouts and retry policy.
#[derive(Clone)]
pub struct Upstream {
    first_byte_timeout: Duration,
    idle_timeout: Option<Duration>,
    total_timeout: Option<Duration>,
    /// Timeouts counted by kind.
    pub timeouts: Arc<TimeoutCounters>,
    /// How long to queue for an origin's concurrency slot.
    queue_timeout: Duration,
    /// Requests refused with 503 because an origin was at its limit.
    pub overloaded: Arc<std::sync::atomic::AtomicU64>,
    /// Retries of idempotent requests after connection failures.
    pub retries: Arc<std::sync::atomic::AtomicU64>,
    max_retries: u32,
    budget: Arc<RetryBudget>,
}

/// The counters of an [`Upstream`], kept across config reloads.
#[derive(Clone, Default)]
pub struct UpstreamCounters {
    /// Timeouts counted by kind.
    pub timeouts: Arc<TimeoutCounters>,
    /// Requests refused with 503 because an origin was at its limit.
    pub overloaded: Arc<std::sync::atomic::AtomicU64>,
    /// Retries of idempotent requests after connection failures.
    pub retries: Arc<std::sync::atomic::AtomicU64>,
}

impl Upstream {
    /// Build from config, counting into `counters`.
    pub fn new(cfg: &UpstreamConfig, counters: UpstreamCounters) -> Self {
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        Upstream {
            first_byte_timeout: Duration::from_millis(cfg.first_byte_timeout_ms),
            idle_timeout: ms(cfg.idle_timeout_ms),
            total_timeout: ms(cfg.total_timeout_ms),
            timeouts: counters.timeouts,
            queue_timeout: Duration::from_millis(cfg.queue_timeout_ms),
            overloaded: counters.overloaded,
            retries: counters.retries,
            max_retries: cfg.retries,
            budget: Arc::new(RetryBudget::new(cfg.retry_budget_percent)),
        }
    }

    /// Send `req` to a server of `pool`, with `path_and_query`. Returns once
    /// the response head has arrived; the body streams. Outcomes feed the
    /// servers' circuit breakers. `replay` rebuilds a bodiless idempotent
    /// request, so that it can be retried on another server after a
    /// connection failure.
    pub async fn send(
        &self,
        pool: &Origin,
        path_and_query: &str,
        req: Request<Body>,
        replay: Option<&Replay<'_>>,
    ) -> Result<Response<TimedBody>, UpstreamError> {
        self.send_within(pool, path_and_query, req, replay, None)
            .await
    }

    /// [`Upstream::send`], with the whole exchange also capped at `cap`
    /// (a client's own deadline, e.g. gRPC's `grpc-timeout`).
    pub async fn send_within(
        &self,
        pool: &Origin,
        path_and_query: &str,
        req: Request<Body>,
        replay: Option<&Replay<'_>>,
        cap: Option<Duration>,
    ) -> Result<Response<TimedBody>, UpstreamError> {
        // The version is the connection's to set (HTTP/1.1 or HTTP/2).
        // Per-origin concurrency isolation: queue briefly, then 503.
        let permit = match &pool.limit {
            Some(sem) => {
                match tokio::time::timeout(self.queue_timeout, sem.clone().acquire_owned()).await {
                    Ok(Ok(p)) => Some(p),
                    _ => {
                        self.overloaded
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return Err(UpstreamError::Overloaded {
                            origin: pool_name(pool),
                        });
                    }
                }
            }
            None => None,
        };
        let started = crate::clock::timer_now();
        let total = match (self.total_timeout, cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // A cap beyond any representable instant is no cap.
        let deadline = total.and_then(|t| started.checked_add(t));
        // The head must come within the first-byte timeout and the total deadline.
        let head_limit = deadline.map_or(started + self.first_byte_timeout, |d| {
            d.min(started + self.first_byte_timeout)
        });
        // Only bodiless idempotent requests are sent again, and only before
        // any response byte exists (we have none until the head arrives).
        let replay = replay
            .filter(|_| req.method().is_idempotent() && http_body::Body::is_end_stream(req.body()));
        // Origin-form target: the connection already names the server.
        let target: Uri = path_and_query
            .parse()
            .map_err(|e| UpstreamError::Unreachable {
                origin: pool_name(pool),
                reason: format!("invalid request target: {e}"),
            })?;
        self.budget.deposit();
        let mut next = Some(req);
        let mut attempt = 0u32;
        let mut avoid = None;
        loop {
            let Some(idx) = pool.pick(crate::clock::instant(), avoid) else {
                return Err(UpstreamError::CircuitOpen {
                    origin: pool_name(pool),
                });
            };
            let server = &pool.servers()[idx];
            let mut req = match (next.take(), replay) {
                (Some(r), _) => r,
                (None, Some(rebuild)) => rebuild(),
                (None, None) => return Err(unreachable_request(server)),
            };
            *req.uri_mut() = target.clone();
            let in_flight = pool.start(idx);
            let result = tokio::time::timeout_at(head_limit, server.conns.send(req)).await;
            let now = crate::clock::instant();
            match result {
                Ok(Ok(resp)) => {
                    // A 5xx counts against a server only when another can take
                    // over; a lone server answering 5xx is still reachable.
                    let failed = resp.status().is_server_error() && pool.servers().len() > 1;
                    in_flight.record(!failed, now);
                    let (parts, body) = resp.into_parts();
                    let body = TimedBody::new(
                        body,
                        self.idle_timeout,
                        deadline,
                        self.timeouts.clone(),
                        permit,
                    );
                    return Ok(Response::from_parts(parts, body));
                }
                // The client's body failed, not the origin: nothing is held
                // against the server (else a few malformed uploads would
                // open its breaker for everyone) and nothing is retried.
                Ok(Err(e)) if e.from_client_body() => {
                    drop(in_flight);
                    return Err(UpstreamError::ClientBody {
                        reason: e.to_string(),
                    });
                }
                Ok(Err(e)) => {
                    // The keep-alive race is not the server's fault. And a lone
                    // server that accepted the connection is reachable: that it
                    // closed it unanswered (as an origin may on purpose) says
                    // no more than a 5xx would, so, like a 5xx, it counts only
                    // when another server can take over. Unreachable (connect,
                    // TLS) and slow (timeouts) still count.
                    if e.is_stale() || (e.after_connect() && pool.servers().len() == 1) {
                        drop(in_flight);
                    } else {
                        in_flight.record(false, now);
                    }
                    if replay.is_some()
                        && e.before_response()
                        && attempt < self.max_retries
                        && self.budget.try_spend()
                    {
                        attempt += 1;
                        avoid = Some(idx);
                        self.retries
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::debug!(attempt, error = %e, server = %server.uri, "retrying");
                        let wake = (crate::clock::timer_now() + backoff(attempt)).min(head_limit);
                        tokio::time::sleep_until(wake).await;
                        continue;
                    }
                    return Err(UpstreamError::Unreachable {
                        origin: server_name(server),
                        reason: e.to_string(),
                    });
                }
                Err(_) => {
                    in_flight.record(false, now);
                    self.timeouts
                        .head
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Err(UpstreamError::Timeout {
                        origin: server_name(server),
                        ms: (head_limit - started).as_millis() as u64,
                    });
                }
            }
        }
    }

    /// Active health check: does `server` answer `path` with a non-5xx status within 2 s?
    pub async fn probe(&self, server: &crate::upstream::origin::Server, path: &str) -> bool {
        let Ok(uri) = path.parse::<Uri>() else {
            return false;
        };
        let mut req = Request::new(crate::body::empty());
        *req.uri_mut() = uri;
        if let Some(a) = server.uri.authority()
            && let Ok(v) = http::HeaderValue::from_str(a.as_str())
        {
            req.headers_mut().insert(http::header::HOST, v);
        }
        let answered = async {
            let resp = server.conns.send(req).await?;
            let ok = !resp.status().is_server_error();
            // Read the body so the connection goes back to the pool.
            let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
            Ok::<bool, SendError>(ok)
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), answered).await,
            Ok(Ok(true))
        )
    }
}

/// The origin's name in errors: its first server.
fn pool_name(pool: &Origin) -> String {
    pool.authority().unwrap_or("origin").to_string()
}

/// A server's name in errors: `scheme://authority`.
fn server_name(server: &crate::upstream::origin::Server) -> String {
    server.uri.to_string().trim_end_matches('/').to_string()
}

fn unreachable_request(server: &crate::upstream::origin::Server) -> UpstreamError {
    UpstreamError::Unreachable {
        origin: server_name(server),
        reason: "request cannot be replayed".into(),
    }
}

/// Exponential backoff with jitter: 20 ms, 40 ms, 80 ms ... each scaled by 0.5-1.5.
fn backoff(attempt: u32) -> Duration {
    let base = 20u64 << attempt.saturating_sub(1).min(6);
    let nanos = crate::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = 50 + (nanos % 101) as u64; // 50..=150 percent
    Duration::from_millis(base * jitter / 100)
}

/// A retry budget: every request earns a fraction of a retry, every retry
/// spends a whole one, so retries add at most that fraction of extra load.
#[derive(Debug)]
pub struct RetryBudget {
    /// In thousandths of a retry.
    balance: std::sync::atomic::AtomicU64,
    earn: u64,
    cap: u64,
}

impl RetryBudget {
    /// Retries may add at most `percent`% to the origin's load.
    pub fn new(percent: u64) -> Self {
        RetryBudget {
            balance: std::sync::atomic::AtomicU64::new(10_000),
            earn: percent * 10,
            cap: 100_000,
        }
    }

    fn deposit(&self) {
        let _ = self.balance.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |b| Some((b + self.earn).min(self.cap)),
        );
    }

    fn try_spend(&self) -> bool {
        self.balance
            .fetch_update(
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
                |b| b.checked_sub(1000),
            )
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_budget_limits_extra_load() {
        let b = RetryBudget::new(20);
        let spent = (0..100).filter(|_| b.try_spend()).count();
        assert_eq!(spent, 10, "starts with ten retries of credit");
        for _ in 0..5 {
            b.deposit();
        }
        assert!(b.try_spend(), "five requests at 20% earn one retry");
        assert!(!b.try_spend());
    }

    #[test]
    fn backoff_grows_with_jitter() {
        for (attempt, lo, hi) in [(1, 10, 30), (2, 20, 60), (3, 40, 120)] {
            let d = backoff(attempt).as_millis() as u64;
            assert!((lo..=hi).contains(&d), "attempt {attempt}: {d} ms");
        }
    }
}
