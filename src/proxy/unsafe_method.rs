//! Methods the cache does not serve from storage: forwarded as they are;
//! unsafe ones invalidate what they touch (RFC 9111 §4.4).

use super::exchange::Exchange;
use super::fetch::{send, store_and_stream};
use super::forwarding::{remove_hop_by_hop, upstream_request};
use super::respond;
use crate::body::Body;
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::{invalidation, key};
use http::Response;

/// Forward a request whose method is not GET or HEAD.
pub async fn forward(ex: &Exchange, body: Body) -> Response<Body> {
    let node = &ex.node;
    let target = &ex.target;
    let req = upstream_request(ex, body);
    // Used only when the request is idempotent and bodiless (PUT, DELETE, OPTIONS...).
    let replay = || upstream_request(ex, crate::body::empty());
    let (result, times) = send(ex, req, Some(&replay)).await;
    let cs = CacheStatus {
        fwd: Some(Fwd::Method),
        ..Default::default()
    };
    match result {
        Ok(resp) => {
            if invalidation::invalidates(&ex.parts.method, resp.status()) {
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
            store_and_stream(ex, resp, times, cs, false, None).await
        }
        Err(e) => respond::upstream_error(node, &e, cs),
    }
}
