//! Sending one request to one peer: its circuit breaker, the tier's
//! first-byte timeout, and telling a peer's own failure (it could not
//! answer: a 5xx it made itself) from the origin's answer relayed through it.

use super::Tier;
use crate::body::Body;
use crate::clock;
use crate::upstream::timed_body::{TimedBody, TimeoutCounters};
use http::{HeaderMap, Request, Response};
use std::sync::Arc;

/// Why a peer gave no usable answer.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerFailure {
    /// Its breaker is open (recent failures, or a failed health check).
    BreakerOpen,
    /// No connection, or the connection broke before a response head.
    Unreachable(String),
    /// No response head within `tier.first_byte_timeout_ms`.
    Timeout,
    /// It answered with a 5xx of its own making (no origin answer behind
    /// it): the origin is failing as that peer sees it, or the peer is.
    Refused(u16),
}

impl PeerFailure {
    /// A stable token for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            PeerFailure::BreakerOpen => "peer-circuit-open",
            PeerFailure::Unreachable(_) => "peer-unreachable",
            PeerFailure::Timeout => "peer-timeout",
            PeerFailure::Refused(_) => "peer-refused",
        }
    }

    /// Could the next peer in hash order do better? Not when this one
    /// reached its verdict about the origin: the next would ask the same
    /// origin, so only the origin itself is tried.
    pub fn next_peer_may_help(&self) -> bool {
        !matches!(self, PeerFailure::Refused(_))
    }
}

/// Send `req` to peer `i` with target `path_and_query`. Returns once the
/// response head has arrived; the body streams under the node's idle and
/// total timeouts. Outcomes feed the peer's breaker.
pub async fn send(
    tier: &Tier,
    i: usize,
    path_and_query: &str,
    mut req: Request<Body>,
    timeouts: Arc<TimeoutCounters>,
) -> Result<Response<TimedBody>, PeerFailure> {
    if !tier.peers.admit(i, clock::instant()) {
        return Err(PeerFailure::BreakerOpen);
    }
    *req.uri_mut() = path_and_query
        .parse()
        .map_err(|e| PeerFailure::Unreachable(format!("invalid request target: {e}")))?;
    let server = &tier.peers.servers()[i];
    let started = clock::timer_now();
    let deadline = tier.total_timeout.and_then(|t| started.checked_add(t));
    let in_flight = tier.peers.start(i);
    let result = tokio::time::timeout(tier.first_byte_timeout, server.conns.send(req)).await;
    let now = clock::instant();
    match result {
        Ok(Ok(resp)) => {
            let own_failure = resp.status().is_server_error() && !relays_an_answer(resp.headers());
            in_flight.record(!own_failure, now);
            if own_failure {
                return Err(PeerFailure::Refused(resp.status().as_u16()));
            }
            let (parts, body) = resp.into_parts();
            let body = TimedBody::new(body, tier.idle_timeout, deadline, timeouts, None);
            Ok(Response::from_parts(parts, body))
        }
        Ok(Err(e)) => {
            // The keep-alive race is not the peer's fault.
            if e.is_stale() {
                drop(in_flight);
            } else {
                in_flight.record(false, now);
            }
            Err(PeerFailure::Unreachable(e.to_string()))
        }
        Err(_) => {
            in_flight.record(false, now);
            timeouts
                .head
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(PeerFailure::Timeout)
        }
    }
}

/// Does a peer's response carry an answer from the origin (fresh, or
/// stored)? The last Cache-Status member is the peer's own (RFC 9211 §2):
/// `hit` or `fwd-status` says an origin answered; without them the peer
/// made the response itself (it could not reach the origin, a loop, ...).
pub fn relays_an_answer(headers: &HeaderMap) -> bool {
    let Some(last) = headers
        .get_all("cache-status")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
    else {
        // No Cache-Status at all: not one of ours; take it as an answer.
        return true;
    };
    last.split(';')
        .skip(1)
        .map(str::trim)
        .any(|p| p == "hit" || p.starts_with("fwd-status="))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn tells_a_peers_own_failure_from_a_relayed_answer() {
        let cases: &[(&[&str], bool)] = &[
            (&[], true),
            (&["peer-b; fwd=uri-miss; fwd-status=503"], true),
            (&["peer-b; hit; ttl=30"], true),
            (&["peer-b; fwd=uri-miss; detail=origin-unreachable"], false),
            (&["peer-b; fwd=uri-miss"], false),
            // Only the last member (the peer's) counts.
            (
                &["origin-cache; hit, peer-b; fwd=miss; detail=origin-timeout"],
                false,
            ),
            (
                &["peer-b; fwd=miss", "peer-c; fwd=miss; fwd-status=500"],
                true,
            ),
            (&["peer-b; fwd=miss; fwd-status=500, peer-c"], false),
        ];
        for (values, want) in cases {
            let mut h = HeaderMap::new();
            for v in *values {
                h.append("cache-status", HeaderValue::from_str(v).expect("value"));
            }
            assert_eq!(relays_an_answer(&h), *want, "{values:?}");
        }
    }
}
