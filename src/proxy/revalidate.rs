//! Validating a stored response with the origin (RFC 9111 §4.3): in the
//! foreground for a request that cannot reuse it as it is, or in the
//! background under stale-while-revalidate (RFC 5861 §3).

use super::exchange::Exchange;
use super::fetch::store_and_stream;
use super::forwarding::{remove_hop_by_hop, upstream_request};
use super::lookup::Entry;
use super::origin_send::drain;
use super::respond;
use crate::body::{self, Body};
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::cached_response::CachedResponse;
use crate::http_cache::conditional;
use crate::http_cache::decision::{self, RevalidateReason};
use crate::http_cache::storable::SET_COOKIE_FIELDS;
use crate::http_cache::validation;
use http::{HeaderName, HeaderValue, Method, Response, StatusCode};

/// Revalidate `entry` for this request and answer it.
pub async fn foreground(ex: &Exchange, entry: Entry, reason: RevalidateReason) -> Response<Body> {
    let pipeline = &ex.pipeline;
    let parts = &ex.parts;
    let fwd = match reason {
        RevalidateReason::Stale | RevalidateReason::ResponseNoCache => Fwd::Stale,
        _ => Fwd::Request,
    };
    let build = || {
        let mut req = upstream_request(ex, body::empty());
        conditional::remove_preconditions(req.headers_mut());
        for (name, value) in validation::conditional_headers(&entry.meta) {
            req.headers_mut().insert(name, value);
        }
        req
    };
    let (result, times) = super::tier::via_peers::send(ex, build(), &build).await;
    let (request_time, response_time, purge_seq) = times;
    // RFC 9111 §4.2.4 lets a disconnected cache serve stale; the operator's
    // window applies only when the origin could not be reached at all.
    let stale_ok = |origin_down: bool| {
        let window = if origin_down {
            pipeline.cfg.cache.serve_stale_on_origin_down_secs
        } else {
            0
        };
        decision::stale_if_error(
            response_time,
            &ex.directives,
            &entry.meta,
            &pipeline.policy,
            window,
        )
    };
    match result {
        Err(e) => {
            tracing::warn!(error = %e, "revalidation failed");
            let cs = CacheStatus {
                fwd: Some(fwd),
                ..Default::default()
            };
            if stale_ok(true) {
                let cs = CacheStatus {
                    hit: true,
                    detail: Some(e.as_str()),
                    ..cs
                };
                let age = entry.meta.current_age(response_time);
                return super::representations::encodings::answer(ex, entry, age, cs).await;
            }
            respond::upstream_error(pipeline, &e, cs)
        }
        Ok(resp) if updates_stored(&parts.method, resp.status(), &entry, resp.headers()) => {
            let mut headers = resp.headers().clone();
            remove_hop_by_hop(&mut headers);
            // The 304's cookies are for this client: passed on to it, and
            // stored only under the explicit rfc9111 policy (merge_304).
            let cookies: Vec<(HeaderName, HeaderValue)> = headers
                .iter()
                .filter(|(n, _)| SET_COOKIE_FIELDS.contains(&n.as_str()))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
            let fresh = Entry::new(
                entry.key,
                CachedResponse {
                    purge_seq,
                    ..validation::merge_304(
                        &entry.meta,
                        &headers,
                        request_time,
                        response_time,
                        ex.site.set_cookie,
                    )
                },
                entry.body.clone(),
                pipeline,
            );
            pipeline.services.store.put(fresh.key, fresh.to_object());
            super::representations::encodings::carry_forms(ex, &entry, &fresh).await;
            let f = decision::Freshness::with(&fresh.meta, response_time, &fresh.facts);
            let cs = CacheStatus {
                fwd: Some(fwd),
                fwd_status: Some(resp.status().as_u16()),
                ttl: Some(f.ttl()),
                stored: Some(true),
                ..Default::default()
            };
            let mut answer = super::representations::encodings::answer(ex, fresh, f.age, cs).await;
            // As a merge would for this client: the 304's cookies replace
            // the stored ones (RFC 9111 §3.2), in its answer only.
            for (name, _) in &cookies {
                answer.headers_mut().remove(name);
            }
            for (name, value) in cookies {
                answer.headers_mut().append(name, value);
            }
            answer
        }
        Ok(resp) if resp.status().is_server_error() && stale_ok(false) => {
            let cs = CacheStatus {
                hit: true,
                fwd: Some(fwd),
                fwd_status: Some(resp.status().as_u16()),
                detail: Some("stale-if-error"),
                ..Default::default()
            };
            let age = entry.meta.current_age(response_time);
            super::representations::encodings::answer(ex, entry, age, cs).await
        }
        Ok(resp) => {
            let cs = CacheStatus {
                fwd: Some(fwd),
                ..Default::default()
            };
            store_and_stream(ex, resp, times, cs, true, None, false).await
        }
    }
}

/// A 304 to our conditional request (§4.3.4), or a HEAD 200 whose
/// validators and length agree with the stored response (§4.3.5), freshens it.
fn updates_stored(
    method: &Method,
    status: StatusCode,
    entry: &Entry,
    headers: &http::HeaderMap,
) -> bool {
    match status {
        // We asked with this entry's own validators, so a 304 is about it.
        StatusCode::NOT_MODIFIED => true,
        StatusCode::OK if method == Method::HEAD => {
            validation::head_matches(&entry.meta, entry.body.len(), headers)
        }
        _ => false,
    }
}

/// Revalidate `entry` without a waiting client (stale-while-revalidate).
/// The refresh is nobody's request: it carries no client credentials,
/// preconditions or range ([`Exchange::background`]), and its body is
/// drained chunk by chunk into the store, never collected in memory.
pub fn in_background(ex: &Exchange, entry: Entry) {
    // One background refresh per key at a time.
    let key = entry.key;
    if !ex.pipeline.collapser.start_refresh(key) {
        return;
    }
    let bg = ex.background();
    tokio::spawn(async move {
        let resp = foreground(&bg, entry, RevalidateReason::Stale).await;
        drain(resp.into_body()).await;
        bg.pipeline.collapser.end_refresh(&key);
    });
}
