//! The miss path: fetch from the origin and stream the response to the
//! client, storing it on the way when [`admission::admit`] allows, sharing it
//! with collapsed waiters when they may reuse it.

use super::collapse::{Head, Leader};
use super::exchange::Exchange;
use super::fill::{FillBody, FillPlan};
use super::forwarding::{remove_hop_by_hop, upstream_request};
use super::origin_send::{Timing, date_value, drain, relay, send};
use super::representations::encodings::{self, Choice};
use super::representations::{range_fill, slices};
use super::respond;
use crate::body::{self, Body};
use crate::clock;
use crate::http_cache::admission::{self, Admission, Admit, Received, Share};
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::cached_response::http_date;
use crate::http_cache::conditional::{self, Precondition};
use crate::http_cache::content_coding;
use crate::http_cache::invalidation;
use crate::http_cache::storable::{NoCacheReason, RequestFacts};
use crate::upstream::timed_body::TimedBody;
use http::header::{self};
use http::{HeaderMap, Method, Response, StatusCode};
use std::sync::Arc;

/// Fetch a missed GET or HEAD from the origin.
pub async fn miss(ex: &Exchange, body: Body, fwd: Fwd, leader: Option<Leader>) -> Response<Body> {
    // Ask for the full response, so it can be stored; the client's own
    // preconditions (and, when ranges fill the cache, its Range) are then
    // answered from it, as for a hit.
    let fills = range_fill::fills(ex);
    let stripped =
        ex.parts.method == Method::GET && (fills || !ex.parts.headers.contains_key(header::RANGE));
    let build = |body: Body| {
        let mut req = upstream_request(ex, body);
        if stripped {
            conditional::remove_preconditions(req.headers_mut());
        }
        if fills {
            for h in &conditional::RANGE_FIELDS {
                req.headers_mut().remove(h);
            }
        }
        req
    };
    let replay = || build(body::empty());
    let (result, times) = super::tier::via_peers::send(ex, build(body), &replay).await;
    let cs = CacheStatus {
        fwd: Some(fwd),
        ..Default::default()
    };
    match result {
        Ok(resp) => {
            // Too large to fetch whole for a range: fetch the slices it needs.
            if fills && let Some(known) = slices::too_large(ex, resp.status(), resp.headers()) {
                drop((resp, leader));
                return Box::pin(slices::serve(ex, known, cs)).await;
            }
            store_and_stream(ex, resp, times, cs, stripped, leader, fills).await
        }
        Err(e) => respond::upstream_error(&ex.pipeline, &e, cs),
    }
}

/// Forward a GET or HEAD that must not touch the cache (it carries a body:
/// the response may depend on bytes no key covers). Nothing is looked up,
/// stored or collapsed.
pub async fn pass(ex: &Exchange, body: Body, reason: NoCacheReason) -> Response<Body> {
    let (result, _) = send(ex, upstream_request(ex, body), None).await;
    let cs = CacheStatus {
        fwd: Some(Fwd::Bypass),
        detail: Some(reason.as_str()),
        stored: Some(false),
        ..Default::default()
    };
    match result {
        Ok(resp) => relay(&ex.pipeline, resp, cs),
        Err(e) => respond::upstream_error(&ex.pipeline, &e, cs),
    }
}

/// Forward an origin response to the client, storing it while it streams
/// when [`admission::admit`] says so, and sharing it with collapsed waiters
/// only when it may be reused without validation.
/// `answer_preconditions`: the client's precondition fields were not sent
/// upstream, so evaluate them here against the response; `answer_range`:
/// nor was its Range ([`range_fill`]).
pub async fn store_and_stream(
    ex: &Exchange,
    resp: Response<TimedBody>,
    (request_time, response_time, purge_seq): Timing,
    mut cs: CacheStatus,
    answer_preconditions: bool,
    leader: Option<Leader>,
    answer_range: bool,
) -> Response<Body> {
    let pipeline = &ex.pipeline;
    let (mut rparts, rbody) = resp.into_parts();
    remove_hop_by_hop(&mut rparts.headers);
    if rparts
        .headers
        .get(header::DATE)
        .and_then(http_date)
        .is_none()
    {
        // RFC 9110 §6.6.1: a recipient with a clock adds Date when it is missing.
        rparts
            .headers
            .insert(header::DATE, date_value(response_time));
    }
    cs.fwd_status = Some(rparts.status.as_u16());
    let version = rparts.version;

    // 1. The verdict (pure).
    let admission = admission::admit(
        &Admit {
            request: request_facts(ex, &rparts.headers),
            primary: ex.primary,
            keyed_fields: &pipeline.keyed_fields,
            max_object_bytes: pipeline.max_object_bytes(),
            vary: &ex.site.vary.rules,
        },
        &Received {
            status: rparts.status,
            headers: &rparts.headers,
            request_time,
            response_time,
            purge_seq,
        },
        &pipeline.policy,
    );
    let mut admitted = match admission {
        Admission::Pass(reason) => {
            cs.detail = Some(reason.as_str());
            cs.stored = Some(false);
            if let Some(l) = leader {
                release_for_pass(ex, l);
            }
            let (status, body) = if answer_range {
                let request = &ex.parts.headers;
                range_fill::answer(
                    request,
                    rparts.status,
                    &mut rparts.headers,
                    body::boxed(rbody),
                )
            } else {
                (rparts.status, body::boxed(rbody))
            };
            return respond::finish(pipeline, status, rparts.headers, body, &cs, version);
        }
        Admission::Store(a) => a,
    };

    // 2. Its side effects: surrogate keys, hit-for-pass cleared, Cache-Status.
    admitted.meta.surrogate_keys = pipeline.surrogate_keys(&rparts.headers);
    pipeline.collapser.stored(&ex.primary);
    if admitted.key != ex.primary {
        pipeline.collapser.stored(&admitted.key);
    }
    cs.ttl = Some(admitted.ttl);
    cs.stored = Some(true);
    if pipeline.cfg.cache.expose_key {
        cs.key = Some(admitted.key.to_hex());
    }
    let precondition = if answer_preconditions {
        conditional::evaluate(&ex.parts.method, &ex.parts.headers, &admitted.meta)
    } else {
        Precondition::Pass
    };

    // 3. The body: filled into the store while it streams, shared with the
    // waiters only when they may reuse it.
    let meta = Arc::new(admitted.meta);
    let expected_len = rparts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|_| ex.parts.method != Method::HEAD);
    // Held in one piece once stored: only such bodies are transcoded.
    let inline_len = expected_len.filter(|n| *n <= pipeline.chunk_bytes() as u64);
    let choice = encodings::choose(ex, &meta, inline_len);
    if choice != Choice::Untouched {
        content_coding::vary_on_accept_encoding(&mut rparts.headers);
    }
    let plan = FillPlan {
        store: pipeline.services.store.clone(),
        key: admitted.key,
        vary_index: admitted.vary_index,
        variant_cap: (
            ex.site.vary.max_variants,
            pipeline.services.metrics.vary_variants_evicted.clone(),
        ),
        meta: (*meta).clone(),
        limit: pipeline.max_object_bytes(),
        chunk_bytes: pipeline.chunk_bytes(),
        expected_len,
    };
    let fill = FillBody::new(rbody, plan);
    let body = match (leader, admitted.share) {
        // Collapsed: a background pump feeds the store and every waiting
        // client, this one included, so a disconnect never cuts the fill short.
        (Some(leader), Share::Waiters) => match leader.share(Head { meta: meta.clone() }, fill) {
            Some(own) => body::boxed(own),
            None => return respond::error(pipeline, StatusCode::BAD_GATEWAY, "collapsed fill", cs),
        },
        // Stored, but only to be revalidated: the waiters go to the origin
        // themselves (dropping the leader releases them).
        _ => body::boxed(fill),
    };
    // The client prefers another form than the origin's: compress (or
    // decode) on fill, from the whole body.
    if let Choice::Transform(to) = choice
        && ex.parts.method == Method::GET
    {
        let key = admitted.key;
        return encodings::serve_filled(ex, key, (*meta).clone(), body, to, cs).await;
    }
    match precondition {
        Precondition::Pass if answer_range => {
            let request = &ex.parts.headers;
            let (status, body) =
                range_fill::answer(request, rparts.status, &mut rparts.headers, body);
            respond::finish(pipeline, status, rparts.headers, body, &cs, version)
        }
        Precondition::Pass => {
            respond::finish(pipeline, rparts.status, rparts.headers, body, &cs, version)
        }
        Precondition::NotModified => {
            // Answer 304 and finish filling the store in the background.
            tokio::spawn(drain(body));
            respond::not_modified(pipeline, rparts.headers, None, &cs, version)
        }
        Precondition::Failed => {
            tokio::spawn(drain(body));
            respond::error(
                pipeline,
                StatusCode::PRECONDITION_FAILED,
                "precondition failed",
                cs,
            )
        }
    }
}

/// The request side of the storage rules for this exchange.
fn request_facts<'a>(ex: &'a Exchange, response: &HeaderMap) -> RequestFacts<'a> {
    let target = &ex.target;
    RequestFacts {
        method: &ex.parts.method,
        request: &ex.parts.headers,
        request_no_store: ex.directives.no_store(),
        content_location_is_target: response
            .get(header::CONTENT_LOCATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|cl| {
                invalidation::is_target(
                    target.scheme,
                    &target.authority,
                    &target.path_and_query,
                    cl,
                )
            }),
        set_cookie: ex.site.set_cookie,
    }
}

/// The leader's response is not stored: release the waiters and mark the
/// key hit-for-pass. Hit-for-pass skips the store lookup, so it must not
/// hide a stored response (a partial one, or one another request stored
/// meanwhile): then the waiters are only released.
fn release_for_pass(ex: &Exchange, leader: Leader) {
    if ex.pipeline.services.store.contains(&ex.primary) {
        drop(leader);
    } else {
        leader.pass(clock::instant());
    }
}
