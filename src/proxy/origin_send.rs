//! Sending a request to the origin for any step that needs one (miss,
//! pass, revalidation, unsafe methods, slices, tier peers), and what the
//! steps share for its answer: relaying it unstored, draining a body nobody
//! reads, the Date a response lacks.

use super::exchange::Exchange;
use super::forwarding::remove_hop_by_hop;
use super::respond;
use crate::body::{self, Body};
use crate::clock;
use crate::http_cache::cache_status::CacheStatus;
use crate::trace::ClientSpan;
use crate::upstream::Replay;
use crate::upstream::timed_body::TimedBody;
use http::Response;
use http::header::HeaderValue;
use http_body_util::BodyExt;
use std::time::SystemTime;

/// When an origin exchange happened, for RFC 9111 §4.2.3 ages and purges:
/// (request sent, response received, purge sequence before sending).
pub type Timing = (SystemTime, SystemTime, u64);

/// Send `req` upstream for `ex`, noting the times and the purge sequence
/// *before* sending (a purge that lands while the fetch is in flight covers it).
pub async fn send(
    ex: &Exchange,
    req: http::Request<Body>,
    replay: Option<&Replay<'_>>,
) -> (
    Result<Response<TimedBody>, crate::error::UpstreamError>,
    Timing,
) {
    let pipeline = &ex.pipeline;
    let (origin, pq) = (&ex.site.origin, &ex.target.path_and_query);
    let mut req = req;
    let span = ClientSpan::start(
        &pipeline.services.tracer,
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
    // A retry's request carries the same trace fields, and is counted.
    let traced = replay.zip(span.as_ref()).map(|(rebuild, span)| {
        move || {
            let mut req = rebuild();
            span.resend(&mut req);
            req
        }
    });
    let replay = match &traced {
        Some(t) => Some(t as &Replay<'_>),
        None => replay,
    };
    let purge_seq = pipeline.services.purge.current_seq();
    let request_time = clock::now();
    let started = clock::instant();
    let mut result = pipeline.upstream.send(origin, pq, req, replay).await;
    if let Some(span) = span {
        span.end(&result);
    }
    if let Ok(resp) = &mut result {
        ex.origin_answered(clock::instant().saturating_duration_since(started));
        super::origin_purge::honour(ex, resp.headers_mut()).await;
    }
    (result, (request_time, clock::now(), purge_seq))
}

/// An HTTP-date header value for `t`.
pub fn date_value(t: SystemTime) -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(t)).unwrap_or(HeaderValue::from_static(""))
}

/// Stream an origin response to the client as it comes, frames and
/// trailers alike, without storing anything.
pub fn relay(
    pipeline: &super::Pipeline,
    resp: Response<TimedBody>,
    cs: CacheStatus,
) -> Response<Body> {
    let (mut rparts, rbody) = resp.into_parts();
    remove_hop_by_hop(&mut rparts.headers);
    let cs = CacheStatus {
        fwd_status: Some(rparts.status.as_u16()),
        ..cs
    };
    let version = rparts.version;
    respond::finish(
        pipeline,
        rparts.status,
        rparts.headers,
        body::boxed(rbody),
        &cs,
        version,
    )
}

/// Read a body to its end, dropping every chunk as it comes (so a fill
/// nobody reads still completes, without holding the body in memory).
pub async fn drain(mut body: Body) {
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            return;
        }
    }
}
