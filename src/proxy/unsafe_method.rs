//! Methods the cache does not serve from storage: forwarded as they are;
//! unsafe ones invalidate what they touch (RFC 9111 §4.4).

use super::fetch::{exchange, store_and_stream};
use super::forwarding::{remove_hop_by_hop, upstream_request};
use super::normalize::Target;
use super::pool::Pool;
use super::{Node, respond};
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::decision::RequestDirectives;
use crate::http_cache::{invalidation, key};
use crate::server::body::Body;
use http::{Response, request::Parts};
use std::net::SocketAddr;

/// Forward a request whose method is not GET or HEAD.
pub async fn forward(
    node: &Node,
    parts: Parts,
    body: Body,
    target: &Target,
    origin: &Pool,
    client: SocketAddr,
) -> Response<Body> {
    let req = upstream_request(node, &parts, target, origin, client, body);
    // Used only when the request is idempotent and bodiless (PUT, DELETE, OPTIONS...).
    let replay = || {
        upstream_request(
            node,
            &parts,
            target,
            origin,
            client,
            crate::server::body::empty(),
        )
    };
    let (result, times) = exchange(node, origin, &target.path_and_query, req, Some(&replay)).await;
    match result {
        Ok(resp) => {
            if invalidation::invalidates(&parts.method, resp.status()) {
                let mut headers = resp.headers().clone();
                remove_hop_by_hop(&mut headers);
                for (authority, pq) in invalidation::targets(
                    target.scheme,
                    &target.authority,
                    &target.path_and_query,
                    &headers,
                ) {
                    node.store
                        .remove(&key::primary(target.scheme, &authority, &pq));
                }
            }
            // A POST response may itself be stored for later GETs (RFC 9110
            // §9.3.3); store_and_stream applies that rule and streams either way.
            let cs = CacheStatus {
                fwd: Some(Fwd::Method),
                ..Default::default()
            };
            let directives = RequestDirectives::from_headers(&parts.headers, false);
            store_and_stream(
                node,
                &parts,
                resp,
                times,
                target,
                cs,
                &directives,
                false,
                None,
            )
            .await
        }
        Err(e) => {
            let cs = CacheStatus {
                fwd: Some(Fwd::Method),
                detail: Some(e.as_str()),
                ..Default::default()
            };
            respond::error(node, e.status(), &e.to_string(), cs)
        }
    }
}
