//! The collapsed follower's step: which requests may share another's
//! origin fetch, and how a follower answers from the leader's response as
//! a hit on the stored copy would be answered.

use super::collapse::Flight;
use super::exchange::Exchange;
use super::representations::encodings::{self, Choice};
use super::{range_fill, respond};
use crate::body::{self, Body};
use crate::clock;
use crate::http_cache::admission;
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::conditional::{self, Precondition};
use crate::http_cache::content_coding;
use crate::http_cache::decision::Decision;
use http::{Method, Response, StatusCode};
use std::sync::Arc;

/// GETs and HEADs collapse; `no-store` requests go alone, and so do ranges
/// unless ranges fill the cache (then the fetch is of the whole object).
/// (Preconditions are fine: a follower answers its own, as a hit does.)
pub fn collapsible(ex: &Exchange) -> bool {
    !ex.directives.no_store()
        && (range_fill::fills(ex) || !conditional::has_range(&ex.parts.headers))
}

/// Wait for the leader's response and answer from it as a hit on the stored
/// copy would be answered: only when this request accepts it without
/// validation (its variant, its directives), with its own preconditions
/// evaluated. `None`: go upstream alone (timeout, not shareable, another
/// variant, or the flight is too far along to join).
pub async fn follow(ex: &Exchange, flight: &Arc<Flight>, fwd: Fwd) -> Option<Response<Body>> {
    let pipeline = &ex.pipeline;
    let head = flight.wait_head(pipeline.collapser.wait_timeout).await?;
    let (method, request) = (&ex.parts.method, &ex.parts.headers);
    let Decision::Fresh { age, ttl } = admission::waiter_may_use(
        clock::now(),
        request,
        &ex.directives,
        &head.meta,
        &pipeline.policy,
        &ex.site.vary.rules,
    )?
    else {
        return None;
    };
    // The leader's stream is the origin's form. When the origin sent a
    // coding this client does not accept (it ignored the node's
    // Accept-Encoding), go alone: a miss of its own is decoded for it
    // (RFC 9110 §12.5.3).
    if ex.site.compression.cfg.enabled
        && let Some(sent) = content_coding::stored_coding(&head.meta.headers)
        && sent != content_coding::Coding::Identity
        && content_coding::negotiate(ex.accept_encoding.as_deref(), &[sent]).is_none()
    {
        return None;
    }
    let cs = CacheStatus {
        fwd: Some(fwd),
        fwd_status: Some(head.meta.status.as_u16()),
        ttl: Some(ttl),
        collapsed: true,
        ..Default::default()
    };
    let body = match conditional::evaluate(method, request, &head.meta) {
        Precondition::Failed => {
            let failed = StatusCode::PRECONDITION_FAILED;
            return Some(respond::error(pipeline, failed, "precondition failed", cs));
        }
        Precondition::NotModified => {
            let headers = head.meta.headers.clone();
            let version = http::Version::HTTP_11;
            return Some(respond::not_modified(
                pipeline,
                headers,
                Some(age),
                &cs,
                version,
            ));
        }
        Precondition::Pass if *method == Method::HEAD => body::empty(),
        Precondition::Pass => body::boxed(flight.reader()?),
    };
    let mut headers = head.meta.headers.clone();
    headers.insert(http::header::AGE, http::HeaderValue::from(age));
    // A follower gets the stored form (the leader's stream).
    if encodings::choose(ex, &head.meta, None) != Choice::Untouched {
        content_coding::vary_on_accept_encoding(&mut headers);
    }
    let (status, body) = if range_fill::fills(ex) {
        range_fill::answer(request, head.meta.status, &mut headers, body)
    } else {
        (head.meta.status, body)
    };
    let version = http::Version::HTTP_11;
    Some(respond::finish(
        pipeline, status, headers, body, &cs, version,
    ))
}
