//! The WebSocket step: an HTTP/1.1 `Upgrade: websocket` or an HTTP/2
//! extended CONNECT (RFC 8441) is checked, admitted under the tunnel
//! limits, sent to the origin as an HTTP/1.1 upgrade on a connection of its
//! own, and after the origin's 101 becomes a byte tunnel between the two.
//! Never cached nor collapsed; purge and Cache-Status do not apply. Any
//! answer but a 101 is passed to the client as it came, uncached.

mod dial;
pub mod handshake;
pub mod hold;
pub mod splice;

pub use crate::services::tunnel_limits::{SiteTunnels, Tunnels};
pub use handshake::{Ask, asks};
pub use hold::ConnHold;

use super::exchange::Exchange;
use super::{Pipeline, forwarding, respond};
use crate::body::{self, Body};
use crate::http_cache::cache_status::CacheStatus;
use crate::services::tunnel_limits::{Refused, TunnelPermit};
use dial::Answer;
use handshake::Malformed;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Largest origin answer other than a 101 that is passed on (it is read
/// whole first, under the first-byte timeout); a larger one is a 502.
const MAX_REFUSAL_BYTES: usize = 256 << 10;

/// Answer a WebSocket handshake asked as `ask`: refuse it, pass on the
/// origin's refusal, or switch and start the tunnel.
pub async fn open(ex: &Exchange, ask: Ask) -> Response<Body> {
    let pipeline = &ex.pipeline;
    if ex.has_body() {
        return refuse(
            pipeline,
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake has no content",
        );
    }
    match handshake::check_request(ask, &ex.parts.headers) {
        Ok(()) => {}
        Err(Malformed::BadRequest(why)) => return refuse(pipeline, StatusCode::BAD_REQUEST, why),
        Err(Malformed::Version) => {
            let mut r = refuse(
                pipeline,
                StatusCode::UPGRADE_REQUIRED,
                "unsupported WebSocket version",
            );
            let h = r.headers_mut();
            h.insert(
                handshake::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return r;
        }
    }
    let permit = match pipeline.services.tunnels.admit(&ex.site.tunnels) {
        Ok(p) => p,
        Err(why) => {
            tracing::debug!(reason = why.as_str(), host = %ex.target.host, "WebSocket refused");
            let status = match why {
                Refused::Disabled => StatusCode::FORBIDDEN,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            return refuse(pipeline, status, why.as_str());
        }
    };
    let Some(client_side) = ex.parts.extensions.get::<OnUpgrade>().cloned() else {
        return refuse(
            pipeline,
            StatusCode::NOT_IMPLEMENTED,
            "this connection cannot be upgraded",
        );
    };
    let hold = ex.parts.extensions.get::<ConnHold>().cloned();

    let mut req = forwarding::upstream_request(ex, body::empty());
    let Some(key) = handshake::upstream_fields(ask, req.headers_mut(), handshake::new_key) else {
        return refuse(
            pipeline,
            StatusCode::INTERNAL_SERVER_ERROR,
            "no WebSocket key",
        );
    };
    *req.method_mut() = Method::GET;
    *req.version_mut() = http::Version::HTTP_11;
    match ex.target.path_and_query.parse() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return refuse(pipeline, StatusCode::BAD_REQUEST, "invalid request target"),
    }
    let up = &pipeline.cfg.upstream;
    let timeouts = dial::Timeouts {
        head: Duration::from_millis(up.first_byte_timeout_ms),
    };
    let (head, origin_side) = match dial::handshake(&ex.site.origin, req, timeouts).await {
        Ok(Answer::Switched(head, io)) => (head, io),
        Ok(Answer::Refused(resp)) => return pass_refusal(pipeline, ask, resp, timeouts.head).await,
        Err(e) => {
            let mut r = respond::upstream_error(pipeline, &e, CacheStatus::default());
            r.headers_mut().remove(CACHE_STATUS);
            return r;
        }
    };
    if let Err(why) = handshake::check_switch(&head.headers, &key) {
        tracing::warn!(reason = why, host = %ex.target.host, "origin's WebSocket switch refused");
        return refuse(
            pipeline,
            StatusCode::BAD_GATEWAY,
            "invalid WebSocket handshake from the origin",
        );
    }
    let mut headers = head.headers;
    forwarding::remove_hop_by_hop(&mut headers);
    handshake::downstream_fields(ask, &mut headers);
    pipeline
        .services
        .tunnels
        .opened
        .fetch_add(1, Ordering::Relaxed);
    let tunnels = pipeline.services.tunnels.clone();
    tokio::spawn(run(tunnels, client_side, origin_side, permit, hold));
    let status = match ask {
        Ask::Upgrade => StatusCode::SWITCHING_PROTOCOLS,
        Ask::ExtendedConnect => StatusCode::OK,
    };
    downstream(pipeline, status, headers, body::empty())
}

/// The tunnel's life: wait for the client's side (hyper hands it out once
/// the switch is written), then splice until it ends. The permit and the
/// connection hold are released when it does.
async fn run(
    tunnels: Arc<Tunnels>,
    client_side: OnUpgrade,
    origin_side: Upgraded,
    permit: TunnelPermit,
    hold: Option<ConnHold>,
) {
    let _keep = (permit, hold);
    let client = match tokio::time::timeout(tunnels.idle_timeout, client_side).await {
        Ok(Ok(io)) => io,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "client gone before the WebSocket switch was sent");
            return;
        }
        Err(_) => {
            tracing::debug!("WebSocket switch not sent within the idle timeout");
            return;
        }
    };
    let end = splice::splice(
        TokioIo::new(client),
        TokioIo::new(origin_side),
        tunnels.idle_timeout,
        tunnels.closing(),
    )
    .await;
    if matches!(end, splice::End::Idle) {
        tunnels.closed_idle.fetch_add(1, Ordering::Relaxed);
    }
    match &end {
        splice::End::Failed(e) => tracing::debug!(error = %e, "WebSocket tunnel failed"),
        splice::End::Closed(up, down) => tracing::debug!(up, down, "WebSocket tunnel closed"),
        other => tracing::debug!(end = other.as_str(), "WebSocket tunnel closed"),
    }
}

/// The origin answered something else than a 101: the client gets it as it
/// came (read whole, bounded), uncached. Over HTTP/2 a 2xx would open the
/// client's tunnel with nothing behind it, so it is a 502.
async fn pass_refusal(
    pipeline: &Pipeline,
    ask: Ask,
    resp: Response<hyper::body::Incoming>,
    within: Duration,
) -> Response<Body> {
    let (parts, incoming) = resp.into_parts();
    if ask == Ask::ExtendedConnect && parts.status.is_success() {
        tracing::warn!(status = %parts.status, "origin answered a WebSocket handshake without switching");
        return refuse(
            pipeline,
            StatusCode::BAD_GATEWAY,
            "the origin did not switch protocols",
        );
    }
    let limited = http_body_util::Limited::new(incoming, MAX_REFUSAL_BYTES);
    let bytes = match tokio::time::timeout(within, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "origin's answer to a WebSocket handshake failed or is too large");
            return refuse(
                pipeline,
                StatusCode::BAD_GATEWAY,
                "the origin's answer could not be read",
            );
        }
        Err(_) => {
            return refuse(
                pipeline,
                StatusCode::GATEWAY_TIMEOUT,
                "the origin's answer took too long",
            );
        }
    };
    let mut headers = parts.headers;
    forwarding::remove_hop_by_hop(&mut headers);
    headers.remove(header::CONTENT_LENGTH);
    downstream(pipeline, parts.status, headers, body::full(bytes))
}

const CACHE_STATUS: header::HeaderName = header::HeaderName::from_static("cache-status");

/// A response with this node's fields (Via, the configured removals) and no
/// Cache-Status: the cache played no part.
fn downstream(
    pipeline: &Pipeline,
    status: StatusCode,
    mut headers: HeaderMap,
    body: Body,
) -> Response<Body> {
    for f in &pipeline.strip_downstream {
        headers.remove(f);
    }
    headers.append(header::VIA, pipeline.via_11.clone());
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// The node's own refusal: a one-line text body, no Cache-Status.
fn refuse(pipeline: &Pipeline, status: StatusCode, why: &str) -> Response<Body> {
    let mut r = respond::error(pipeline, status, why, CacheStatus::default());
    r.headers_mut().remove(CACHE_STATUS);
    r
}
