//! The miss path: fetch from the origin and stream the response to the
//! client, storing it on the way when RFC 9111 §3 allows.

use super::collapse::{Head, Leader};
use super::fill::{FillBody, FillPlan};
use super::forwarding::{CLIENT_CONDITIONALS, remove_hop_by_hop, upstream_request};
use super::normalize::Target;
use super::pool::Pool;
use super::timed_body::TimedBody;
use super::upstream::Replay;
use super::{Node, respond};
use crate::clock;
use crate::http_cache::age;
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::cached_response::{CachedResponse, effective_cache_control, http_date};
use crate::http_cache::conditional::{self, Precondition};
use crate::http_cache::decision::{Freshness, RequestDirectives};
use crate::http_cache::invalidation;
use crate::http_cache::key;
use crate::http_cache::storable::{Exchange, NoCacheReason, Storable, storable};
use crate::http_cache::vary::{self, Vary};
use crate::server::body::{self, Body};
use http::header::{self, HeaderValue};
use http::{Method, Response, request::Parts};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::time::SystemTime;

/// Fetch a missed GET or HEAD from the origin.
#[allow(clippy::too_many_arguments)]
pub async fn miss(
    node: &Node,
    parts: Parts,
    body: Body,
    target: &Target,
    origin: &Pool,
    client: SocketAddr,
    fwd: Fwd,
    directives: &RequestDirectives,
    leader: Option<Leader>,
) -> Response<Body> {
    // Ask for the full response, so it can be stored; the client's own
    // conditionals are then answered from it.
    let stripped = parts.method == Method::GET && !parts.headers.contains_key(header::RANGE);
    let build = |body: Body| {
        let mut req = upstream_request(node, &parts, target, origin, client, body);
        if stripped {
            for h in CLIENT_CONDITIONALS {
                req.headers_mut().remove(h);
            }
        }
        req
    };
    let replay = || build(body::empty());
    let (result, times) = exchange(
        node,
        origin,
        &target.path_and_query,
        build(body),
        Some(&replay),
    )
    .await;
    match result {
        Ok(resp) => {
            let cs = CacheStatus {
                fwd: Some(fwd),
                ..Default::default()
            };
            store_and_stream(
                node, &parts, resp, times, target, cs, directives, stripped, leader,
            )
            .await
        }
        Err(e) => {
            tracing::warn!(error = %e, "origin request failed");
            let cs = CacheStatus {
                fwd: Some(fwd),
                detail: Some(e.as_str()),
                ..Default::default()
            };
            respond::error(node, e.status(), &e.to_string(), cs)
        }
    }
}

/// Forward an origin response for a GET/HEAD request, storing it while it
/// streams when §3 allows. `answer_conditionals`: the client's conditional
/// fields were not sent upstream, so evaluate them here.
#[allow(clippy::too_many_arguments)]
pub async fn store_and_stream(
    node: &Node,
    parts: &Parts,
    resp: Response<TimedBody>,
    (request_time, response_time, purge_seq): Timing,
    target: &Target,
    mut cs: CacheStatus,
    directives: &RequestDirectives,
    answer_conditionals: bool,
    leader: Option<Leader>,
) -> Response<Body> {
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
    let eff = effective_cache_control(&rparts.headers, &node.policy);
    let limit = node.max_object_bytes();
    let declared_len = rparts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let content_location_is_target = rparts
        .headers
        .get(header::CONTENT_LOCATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|cl| {
            invalidation::is_target(target.scheme, &target.authority, &target.path_and_query, cl)
        });
    let exchange = Exchange {
        method: &parts.method,
        request: &parts.headers,
        request_no_store: directives.no_store(),
        content_location_is_target,
        // Only consulted when the response sets a cookie.
        cookies_need_explicit: rparts.headers.contains_key(header::SET_COOKIE)
            && node
                .sites
                .site_for(&target.host)
                .map_or(true, |s| !s.set_cookie_rfc9111),
    };
    let mut verdict = storable(&exchange, rparts.status, &rparts.headers, &eff);
    if matches!(verdict, Storable::Yes { .. }) && declared_len.is_some_and(|n| n > limit) {
        verdict = Storable::No(NoCacheReason::TooLarge);
    }
    let Storable::Yes { strip } = verdict else {
        if let Storable::No(reason) = verdict {
            cs.detail = Some(reason.as_str());
        }
        cs.stored = Some(false);
        if let Some(l) = leader {
            // Hit-for-pass skips the store lookup, so it must not hide a
            // stored response (a partial one, or one another request stored
            // meanwhile): then the followers are only released.
            let primary = key::primary(target.scheme, &target.authority, &target.path_and_query);
            if node.store.contains(&primary) {
                drop(l);
            } else {
                l.pass(clock::instant());
            }
        }
        let version = rparts.version;
        return respond::finish(
            node,
            rparts.status,
            rparts.headers,
            body::boxed(rbody),
            &cs,
            version,
        );
    };

    let primary = key::primary(target.scheme, &target.authority, &target.path_and_query);
    let mut stored_headers = rparts.headers.clone();
    stored_headers.remove(header::AGE);
    // Trailers are relayed while streaming but not stored, so neither is their announcement.
    stored_headers.remove(header::TRAILER);
    for f in &strip {
        stored_headers.remove(f.as_str());
    }
    let date = stored_headers.get(header::DATE).and_then(http_date);
    let mut meta = CachedResponse {
        status: rparts.status,
        headers: stored_headers,
        request_time,
        response_time,
        initial_age: age::initial_age(
            age::age_value(&rparts.headers),
            date,
            request_time,
            response_time,
        ),
        variant: Vec::new(),
        purge_seq,
        surrogate_keys: node.surrogate_keys(&rparts.headers),
    };
    let (store_key, vary_index) = match vary::parse(&rparts.headers) {
        Vary::Fields(names) => {
            meta.variant = vary::selected(&names, &parts.headers);
            (
                key::variant(&primary, &meta.variant),
                Some((primary, names)),
            )
        }
        _ => (primary, None),
    };
    node.collapser.stored(&primary);
    if store_key != primary {
        node.collapser.stored(&store_key);
    }
    let f = Freshness::of(&meta, response_time, &node.policy);
    cs.ttl = Some(f.ttl());
    cs.stored = Some(true);
    if node.cfg.cache.expose_key {
        cs.key = Some(store_key.to_hex());
    }
    let precondition = if answer_conditionals {
        conditional::evaluate(&parts.method, &parts.headers, &meta)
    } else {
        Precondition::Pass
    };
    let shared_head = leader.as_ref().map(|_| Head {
        status: rparts.status,
        headers: rparts.headers.clone(),
        variant: meta.variant.clone(),
        ttl: cs.ttl.unwrap_or(0),
    });
    let plan = FillPlan {
        store: node.store.clone(),
        key: store_key,
        vary_index,
        meta,
        limit,
        chunk_bytes: node.chunk_bytes(),
        expected_len: declared_len.filter(|_| parts.method != Method::HEAD),
    };
    let fill = FillBody::new(rbody, plan);
    let version = rparts.version;
    // Collapsed: a background pump feeds the store and every waiting client,
    // this one included, so a disconnect never cuts the fill short.
    let body = match (leader, shared_head) {
        (Some(leader), Some(head)) => match leader.share(head, fill) {
            Some(own) => body::boxed(own),
            None => {
                return respond::error(
                    node,
                    http::StatusCode::BAD_GATEWAY,
                    "collapsed fill unavailable",
                    cs,
                );
            }
        },
        _ => body::boxed(fill),
    };
    if precondition == Precondition::NotModified {
        // Answer the client 304 and finish filling the store in the background.
        tokio::spawn(async move {
            let _ = body.collect().await;
        });
        for h in [
            header::CONTENT_LENGTH,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
        ] {
            rparts.headers.remove(h);
        }
        return respond::finish(
            node,
            http::StatusCode::NOT_MODIFIED,
            rparts.headers,
            body::empty(),
            &cs,
            version,
        );
    }
    respond::finish(node, rparts.status, rparts.headers, body, &cs, version)
}

/// When an origin exchange happened, for RFC 9111 §4.2.3 ages and purges:
/// (request sent, response received, purge sequence before sending).
pub type Timing = (SystemTime, SystemTime, u64);

/// Send `req` upstream, noting the times and the purge sequence *before*
/// sending (a purge that lands while the fetch is in flight covers it).
pub async fn exchange(
    node: &Node,
    origin: &Pool,
    path_and_query: &str,
    req: http::Request<Body>,
    replay: Option<&Replay<'_>>,
) -> (
    Result<Response<TimedBody>, crate::error::UpstreamError>,
    Timing,
) {
    let purge_seq = node.purge.current_seq();
    let request_time = clock::now();
    let result = node
        .upstream
        .send(origin, path_and_query, req, replay)
        .await;
    (result, (request_time, clock::now(), purge_seq))
}

/// An HTTP-date header value for `t`.
pub fn date_value(t: SystemTime) -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(t)).unwrap_or(HeaderValue::from_static(""))
}
