//! The pooled keep-alive client that talks to origins.

use super::timed_body::{TimedBody, TimeoutCounters};
use crate::config::UpstreamConfig;
use crate::error::UpstreamError;
use crate::server::body::Body;
use http::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A pooled HTTP/1.1 client shared by all origins.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpConnector, Body>,
    first_byte_timeout: Duration,
    idle_timeout: Option<Duration>,
    total_timeout: Option<Duration>,
    /// Timeouts counted by kind.
    pub timeouts: Arc<TimeoutCounters>,
    /// Concurrency limit per origin authority, and how long to queue for it.
    limits: Arc<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    queue_timeout: Duration,
    /// Requests refused with 503 because an origin was at its limit.
    pub overloaded: Arc<std::sync::atomic::AtomicU64>,
}

impl Upstream {
    /// Build the client from config.
    pub fn new(cfg: &UpstreamConfig, limits: HashMap<String, usize>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_millis(cfg.connect_timeout_ms)));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(cfg.pool_idle_timeout_secs))
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .set_host(false)
            .build(connector);
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        Upstream {
            client,
            first_byte_timeout: Duration::from_millis(cfg.first_byte_timeout_ms),
            idle_timeout: ms(cfg.idle_timeout_ms),
            total_timeout: ms(cfg.total_timeout_ms),
            timeouts: Arc::new(TimeoutCounters::default()),
            limits: Arc::new(
                limits
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(origin, n)| (origin, Arc::new(tokio::sync::Semaphore::new(n))))
                    .collect(),
            ),
            queue_timeout: Duration::from_millis(cfg.queue_timeout_ms),
            overloaded: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// Send `req` to `origin` (scheme and authority), with `path_and_query`.
    /// Returns once the response head has arrived; the body streams.
    pub async fn send(
        &self,
        origin: &Uri,
        path_and_query: &str,
        mut req: Request<Body>,
    ) -> Result<Response<TimedBody>, UpstreamError> {
        let origin_name = format!(
            "{}://{}",
            origin.scheme_str().unwrap_or("http"),
            origin.authority().map(|a| a.as_str()).unwrap_or("")
        );
        let uri: Uri = format!("{origin_name}{path_and_query}")
            .parse()
            .map_err(|e| UpstreamError::Unreachable {
                origin: origin_name.clone(),
                reason: format!("invalid request target: {e}"),
            })?;
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_11;
        // Per-origin concurrency isolation: queue briefly, then 503.
        let permit = match origin.authority().and_then(|a| self.limits.get(a.as_str())) {
            Some(sem) => {
                match tokio::time::timeout(self.queue_timeout, sem.clone().acquire_owned()).await {
                    Ok(Ok(p)) => Some(p),
                    _ => {
                        self.overloaded
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return Err(UpstreamError::Overloaded {
                            origin: origin_name,
                        });
                    }
                }
            }
            None => None,
        };
        let started = crate::clock::timer_now();
        let deadline = self.total_timeout.map(|t| started + t);
        // The head must come within the first-byte timeout and the total deadline.
        let head_limit = deadline.map_or(started + self.first_byte_timeout, |d| {
            d.min(started + self.first_byte_timeout)
        });
        match tokio::time::timeout_at(head_limit, self.client.request(req)).await {
            Ok(Ok(resp)) => {
                let (parts, body) = resp.into_parts();
                let body = TimedBody::new(
                    body,
                    self.idle_timeout,
                    deadline,
                    self.timeouts.clone(),
                    permit,
                );
                Ok(Response::from_parts(parts, body))
            }
            Ok(Err(e)) => Err(UpstreamError::Unreachable {
                origin: origin_name,
                reason: describe(&e),
            }),
            Err(_) => Err({
                self.timeouts
                    .head
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                UpstreamError::Timeout {
                    origin: origin_name,
                    ms: (head_limit - started).as_millis() as u64,
                }
            }),
        }
    }
}

fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
