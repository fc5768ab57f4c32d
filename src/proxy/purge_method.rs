//! `PURGE <url>` on the public listener: off by default; when on, allowed
//! only from the configured networks. It purges the one URL (every variant).

use super::{Pipeline, respond};
use crate::body::{self, Body};
use crate::http_cache::cache_status::CacheStatus;
use crate::target::Target;
use http::{HeaderValue, Response, StatusCode, header, request::Parts};
use std::net::SocketAddr;

/// Answer a PURGE request. The purge's disk commit runs on a blocking
/// thread, never on the async worker serving other requests.
pub async fn handle(
    pipeline: &std::sync::Arc<Pipeline>,
    parts: &Parts,
    target: &Target,
    client: SocketAddr,
) -> Response<Body> {
    let cs = CacheStatus::default();
    if !pipeline.cfg.purge.public_purge_method {
        let mut resp = respond::error(
            pipeline,
            StatusCode::METHOD_NOT_ALLOWED,
            "PURGE is not enabled on this listener",
            cs,
        );
        resp.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH"),
        );
        return resp;
    }
    if !pipeline.purge_cidrs.iter().any(|c| c.contains(client.ip())) {
        return respond::error(
            pipeline,
            StatusCode::FORBIDDEN,
            "PURGE is not allowed from this address",
            cs,
        );
    }
    let soft = parts
        .headers
        .get("fastly-soft-purge")
        .is_some_and(|v| v.as_bytes() == b"1");
    let op = crate::purge::PurgeOp::Url {
        host: target.host.clone(),
        path: target.path_and_query.clone(),
    };
    let recorded = {
        let pipeline = pipeline.clone();
        tokio::task::spawn_blocking(move || pipeline.services.purge(&op, soft))
            .await
            .unwrap_or_else(|e| Err(format!("purge task failed: {e}")))
    };
    match recorded {
        Ok(id) => {
            if !soft {
                pipeline
                    .services
                    .store
                    .remove(&crate::http_cache::key::primary(
                        target.scheme,
                        &target.authority,
                        &target.path_and_query,
                    ));
            }
            tracing::info!(id, host = %target.host, path = %target.path_and_query, soft, %client, "PURGE");
            let json = format!(
                "{{\"id\":{id},\"status\":\"ok\",\"purge\":\"url\",\"mode\":\"{}\"}}\n",
                if soft { "soft" } else { "hard" }
            );
            let mut resp = Response::new(body::full(json));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "PURGE could not be recorded");
            respond::error(
                pipeline,
                StatusCode::SERVICE_UNAVAILABLE,
                "purge not recorded; retry",
                cs,
            )
        }
    }
}
