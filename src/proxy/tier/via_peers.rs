//! Fetching a cacheable miss or revalidation through the tier: the home
//! peer, then the next in hash order, then the origin. Only bodiless GETs
//! and HEADs come here (misses and revalidations); passes, unsafe methods,
//! WebSocket and gRPC go to the origin directly.

use super::peer::{self, PeerFailure};
use super::{Route, TierOutcome};
use crate::body::Body;
use crate::clock;
use crate::error::UpstreamError;
use crate::proxy::exchange::Exchange;
use crate::proxy::origin_send::{self, Timing};
use crate::upstream::Replay;
use crate::upstream::timed_body::TimedBody;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response};

/// Send `req` (built by `rebuild`, which builds it again for the next
/// hop) where the tier routes it, noting the times and purge sequence as
/// [`origin_send::send`] does. Without a tier it is [`origin_send::send`].
pub async fn send(
    ex: &Exchange,
    req: Request<Body>,
    rebuild: &Replay<'_>,
) -> (Result<Response<TimedBody>, UpstreamError>, Timing) {
    let pipeline = &ex.pipeline;
    let Some(tier) = &pipeline.tier else {
        return origin_send::send(ex, req, Some(rebuild)).await;
    };
    let peers = match tier.route(ex.arrival, &ex.primary) {
        Route::Peers(p) => p,
        Route::Origin(why) => {
            pipeline.services.metrics.tier.count(why);
            return origin_send::send(ex, req, Some(rebuild)).await;
        }
    };
    let mut next = Some(req);
    for (attempt, &i) in peers.iter().enumerate() {
        let mut req = next.take().unwrap_or_else(rebuild);
        for_peer(ex, &mut req);
        let purge_seq = pipeline.services.purge.current_seq();
        let request_time = clock::now();
        let pq = &ex.target.path_and_query;
        let timeouts = pipeline.upstream.timeouts.clone();
        match peer::send(tier, i, pq, req, timeouts).await {
            Ok(resp) => {
                let outcome = if attempt == 0 {
                    TierOutcome::Home
                } else {
                    TierOutcome::NextPeer
                };
                pipeline.services.metrics.tier.count(outcome);
                return (Ok(resp), (request_time, clock::now(), purge_seq));
            }
            Err(failure) => {
                log(tier.id(i), &failure);
                if !failure.next_peer_may_help() {
                    break;
                }
            }
        }
    }
    pipeline
        .services
        .metrics
        .tier
        .count(TierOutcome::OriginFallback);
    origin_send::send(ex, next.unwrap_or_else(rebuild), Some(rebuild)).await
}

/// A request built for the origin, made fit for a peer: the peer routes by
/// Host to the same site, and keys by the scheme the client used (which it
/// takes from X-Forwarded-Proto only from a peer).
fn for_peer(ex: &Exchange, req: &mut Request<Body>) {
    let h = req.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ex.target.authority) {
        h.insert(header::HOST, v);
    }
    h.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(ex.target.scheme),
    );
    // How far this node has read the purge stream: a peer that has read
    // less revalidates what it holds rather than hand back an object this
    // node has already purged.
    if let Some(f) = &ex.pipeline.services.fleet {
        h.insert(
            HeaderName::from_static(super::FLEET_SEQ),
            HeaderValue::from(f.position()),
        );
    }
}

fn log(peer: &str, failure: &PeerFailure) {
    match failure {
        PeerFailure::Unreachable(reason) => {
            tracing::warn!(peer, detail = failure.as_str(), %reason, "peer failed; trying the next");
        }
        PeerFailure::Refused(status) => {
            tracing::warn!(
                peer,
                detail = failure.as_str(),
                status,
                "peer could not answer; asking the origin"
            );
        }
        // Known already (and logged when it opened): once per request
        // would flood the log while a peer is down.
        PeerFailure::BreakerOpen => {
            tracing::debug!(peer, detail = failure.as_str(), "peer skipped");
        }
        PeerFailure::Timeout => {
            tracing::warn!(
                peer,
                detail = failure.as_str(),
                "peer failed; trying the next"
            );
        }
    }
}
