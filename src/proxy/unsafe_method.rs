//! Methods the cache does not serve from storage: forwarded as they are;
//! unsafe ones invalidate what they touch (RFC 9111 §4.4). gRPC calls pass
//! through streaming, never stored and invalidating nothing.

use super::exchange::Exchange;
use super::fetch::store_and_stream;
use super::forwarding::{remove_hop_by_hop, upstream_request};
use super::grpc;
use super::origin_send::{relay, send};
use super::respond;
use crate::body::Body;
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::{invalidation, key};
use crate::trace::ClientSpan;
use http::Response;

/// Forward a request whose method is not GET or HEAD.
pub async fn forward(ex: &Exchange, body: Body) -> Response<Body> {
    let pipeline = &ex.pipeline;
    let target = &ex.target;
    if grpc::is_grpc(&ex.parts.headers) {
        return forward_grpc(ex, body).await;
    }
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
                    pipeline
                        .services
                        .store
                        .remove(&key::primary(target.scheme, &authority, &pq));
                }
            }
            // A POST response may itself be stored for later GETs (RFC 9110
            // §9.3.3); store_and_stream applies that rule and streams either way.
            store_and_stream(ex, resp, times, cs, false, None, false).await
        }
        Err(e) => respond::upstream_error(pipeline, &e, cs),
    }
}

/// A gRPC call: streamed both ways to an HTTP/2 origin, trailers included,
/// never stored. A failure before the origin answers is a gRPC error.
async fn forward_grpc(ex: &Exchange, body: Body) -> Response<Body> {
    let cs = CacheStatus {
        fwd: Some(Fwd::Method),
        stored: Some(false),
        ..Default::default()
    };
    if !ex.site.origin.speaks_h2() {
        tracing::warn!(
            host = %ex.target.host,
            "gRPC request for a site whose origin is not HTTP/2; set its protocol to h2c or h2"
        );
        let message = "gRPC needs an HTTP/2 origin; this site's origin speaks HTTP/1.1";
        return respond::grpc_error(&ex.pipeline, grpc::Code::Unavailable, message, cs);
    }
    // The client's deadline also bounds the origin exchange.
    let deadline = grpc::timeout(&ex.parts.headers);
    let mut req = upstream_request(ex, body);
    let (origin, pq) = (&ex.site.origin, &ex.target.path_and_query);
    let tracer = &ex.pipeline.services.tracer;
    let span = ClientSpan::start(
        tracer,
        &ex.parts.extensions,
        &mut req,
        || {
            (
                origin.scheme(),
                origin.authority().unwrap_or_default().into(),
            )
        },
        pq,
    );
    let result = ex
        .pipeline
        .upstream
        .send_within(origin, pq, req, None, deadline)
        .await;
    if let Some(span) = span {
        span.end(&result);
    }
    match result {
        Ok(resp) => relay(&ex.pipeline, resp, cs),
        Err(e) => respond::upstream_error_grpc(&ex.pipeline, &e, cs),
    }
}
