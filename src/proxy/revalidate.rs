//! Validating a stored response with the origin (RFC 9111 §4.3): in the
//! foreground for a request that cannot reuse it as it is, or in the
//! background under stale-while-revalidate (RFC 5861 §3).

use super::fetch::{exchange, store_and_stream};
use super::forwarding::{CLIENT_CONDITIONALS, remove_hop_by_hop, upstream_request};
use super::lookup::Entry;
use super::normalize::Target;
use super::pool::Pool;
use super::{Node, respond};

use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::cached_response::CachedResponse;
use crate::http_cache::decision::{self, RequestDirectives, RevalidateReason};
use crate::http_cache::validation;
use crate::server::body;
use http::{Method, Response, StatusCode, request::Parts};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::Arc;

/// Revalidate `entry` for this request and answer it.
#[allow(clippy::too_many_arguments)]
pub async fn foreground(
    node: &Node,
    parts: Parts,
    target: &Target,
    origin: &Pool,
    client: SocketAddr,
    entry: Entry,
    reason: RevalidateReason,
    directives: &RequestDirectives,
) -> Response<body::Body> {
    let fwd = match reason {
        RevalidateReason::Stale | RevalidateReason::ResponseNoCache => Fwd::Stale,
        _ => Fwd::Request,
    };
    let build = || {
        let mut req = upstream_request(node, &parts, target, origin, client, body::empty());
        for h in CLIENT_CONDITIONALS {
            req.headers_mut().remove(h);
        }
        for (name, value) in validation::conditional_headers(&entry.meta) {
            req.headers_mut().insert(name, value);
        }
        req
    };
    let (result, times) =
        exchange(node, origin, &target.path_and_query, build(), Some(&build)).await;
    let (request_time, response_time, purge_seq) = times;
    // RFC 9111 §4.2.4 lets a disconnected cache serve stale; the operator's
    // window applies only when the origin could not be reached at all.
    let stale_ok = |origin_down: bool| {
        let window = if origin_down {
            node.cfg.cache.serve_stale_on_origin_down_secs
        } else {
            0
        };
        decision::stale_if_error(response_time, directives, &entry.meta, &node.policy, window)
    };
    match result {
        Err(e) => {
            tracing::warn!(error = %e, "revalidation failed");
            if stale_ok(true) {
                let cs = CacheStatus {
                    hit: true,
                    fwd: Some(fwd),
                    detail: Some(e.as_str()),
                    ..Default::default()
                };
                let age = entry.meta.current_age(response_time);
                return respond::cached(node, &entry, &parts.method, &parts.headers, age, cs);
            }
            let cs = CacheStatus {
                fwd: Some(fwd),
                detail: Some(e.as_str()),
                ..Default::default()
            };
            respond::error(node, e.status(), &e.to_string(), cs)
        }
        Ok(resp) if updates_stored(&parts.method, resp.status(), &entry, resp.headers()) => {
            let mut headers = resp.headers().clone();
            remove_hop_by_hop(&mut headers);
            let fresh = Entry::new(
                entry.key,
                CachedResponse {
                    purge_seq,
                    ..validation::merge_304(&entry.meta, &headers, request_time, response_time)
                },
                entry.body.clone(),
                node,
            );
            node.store.put(fresh.key, fresh.to_object());
            let f = decision::Freshness::with(&fresh.meta, response_time, &fresh.facts);
            let cs = CacheStatus {
                fwd: Some(fwd),
                fwd_status: Some(resp.status().as_u16()),
                ttl: Some(f.ttl()),
                stored: Some(true),
                ..Default::default()
            };
            respond::cached(node, &fresh, &parts.method, &parts.headers, f.age, cs)
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
            respond::cached(node, &entry, &parts.method, &parts.headers, age, cs)
        }
        Ok(resp) => {
            let cs = CacheStatus {
                fwd: Some(fwd),
                ..Default::default()
            };
            store_and_stream(
                node,
                &parts,
                resp,
                (request_time, response_time, purge_seq),
                target,
                cs,
                directives,
                true,
                None,
            )
            .await
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
pub fn in_background(
    node: Arc<Node>,
    parts: &Parts,
    target: &Target,
    origin: &Arc<Pool>,
    client: SocketAddr,
    entry: Entry,
) {
    // One background refresh per key at a time.
    let key = entry.key;
    if !node.collapser.start_refresh(key) {
        return;
    }
    let mut bg = http::Request::new(());
    *bg.method_mut() = Method::GET;
    *bg.headers_mut() = parts.headers.clone();
    *bg.version_mut() = parts.version;
    let (bg_parts, ()) = bg.into_parts();
    let (target, origin) = (target.clone(), origin.clone());
    tokio::spawn(async move {
        let directives = RequestDirectives::default();
        let resp = foreground(
            &node,
            bg_parts,
            &target,
            &origin,
            client,
            entry,
            RevalidateReason::Stale,
            &directives,
        )
        .await;
        // Drive the body so that a new full response is stored.
        let _ = resp.into_body().collect().await;
        node.collapser.end_refresh(&key);
    });
}
