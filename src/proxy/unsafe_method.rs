//! Methods the cache does not serve from storage: forwarded as they are;
//! unsafe ones invalidate what they touch (RFC 9111 §4.4).

use super::forwarding::{remove_hop_by_hop, upstream_request};
use super::normalize::Target;
use super::{Node, respond};
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::{invalidation, key};
use crate::server::body::{self, Body};
use http::{Response, Uri, request::Parts};
use std::net::SocketAddr;

/// Forward a request whose method is not GET or HEAD.
pub async fn forward(
    node: &Node,
    parts: Parts,
    body: Body,
    target: &Target,
    origin: &Uri,
    client: SocketAddr,
) -> Response<Body> {
    let req = upstream_request(node, &parts, target, origin, client, body);
    match node
        .upstream
        .send(origin, &target.path_and_query, req)
        .await
    {
        Ok(resp) => {
            let (mut rparts, rbody) = resp.into_parts();
            remove_hop_by_hop(&mut rparts.headers);
            if invalidation::invalidates(&parts.method, rparts.status) {
                for (authority, pq) in invalidation::targets(
                    target.scheme,
                    &target.authority,
                    &target.path_and_query,
                    &rparts.headers,
                ) {
                    node.store
                        .remove(&key::primary(target.scheme, &authority, &pq));
                }
            }
            let cs = CacheStatus {
                fwd: Some(Fwd::Method),
                fwd_status: Some(rparts.status.as_u16()),
                stored: Some(false),
                ..Default::default()
            };
            respond::finish(
                node,
                rparts.status,
                rparts.headers,
                body::boxed(rbody),
                &cs,
                rparts.version,
            )
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
