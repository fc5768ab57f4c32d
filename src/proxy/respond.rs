//! Building the responses the node sends downstream: from the cache (with
//! Age, client preconditions and HEAD), from the origin, and errors.

use super::Pipeline;
use super::forwarding::append_via;
use super::lookup::Entry;
use super::representations::chunked_body;
use super::served::Served;
use crate::body::{self, Body};
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::conditional::{self, Precondition};
use crate::http_cache::range::{self, RangeAnswer};
use crate::metrics::Source;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use std::sync::Arc;
use storage::{Payload, Tier};

/// [`cached`] for an entry the caller owns. The common hit (GET or HEAD
/// without preconditions or Range, a complete inline body) moves the entry's
/// freshly decoded header map into the response instead of copying it;
/// anything else takes the general path.
pub fn cached_owned(
    pipeline: &Pipeline,
    mut entry: Entry,
    method: &Method,
    request: &HeaderMap,
    age: u64,
    cs: CacheStatus,
) -> Response<Body> {
    let plain = (method == Method::GET || method == Method::HEAD)
        && entry.meta.status != StatusCode::PARTIAL_CONTENT
        && !conditional::has_preconditions(request)
        && !conditional::has_range(request);
    let Payload::Inline(bytes) = &entry.body else {
        return cached(pipeline, &entry, method, request, age, cs);
    };
    if !plain {
        return cached(pipeline, &entry, method, request, age, cs);
    }
    let body = if method == Method::HEAD {
        body::empty()
    } else {
        body::full(bytes.clone())
    };
    let status = entry.meta.status;
    let mut headers = match Arc::get_mut(&mut entry.meta) {
        Some(meta) => std::mem::take(&mut meta.headers),
        None => entry.meta.headers.clone(),
    };
    add_via(pipeline, &mut headers, http::Version::HTTP_11);
    headers.insert(header::AGE, HeaderValue::from(age));
    let mut resp = with_cache_status(pipeline, status, headers, body, &cs);
    if entry.tier == Tier::Disk {
        super::served::set_source(&mut resp, Source::Disk);
    }
    resp
}

/// Serve a stored response (RFC 9111 §4): Age, client preconditions (§4.3.2), HEAD.
pub fn cached(
    pipeline: &Pipeline,
    entry: &Entry,
    method: &Method,
    request: &HeaderMap,
    age: u64,
    cs: CacheStatus,
) -> Response<Body> {
    let mut resp = match conditional::evaluate(method, request, &entry.meta) {
        Precondition::NotModified => {
            let headers = entry.meta.headers.clone();
            not_modified(pipeline, headers, Some(age), &cs, http::Version::HTTP_11)
        }
        Precondition::Failed => {
            return error(
                pipeline,
                StatusCode::PRECONDITION_FAILED,
                "precondition failed",
                cs,
            );
        }
        Precondition::Pass => {
            let mut headers = cached_head(pipeline, &entry.meta.headers);
            let (status, body) = if method == Method::HEAD {
                (entry.meta.status, body::empty())
            } else {
                ranged(pipeline, entry, method, request, &mut headers)
            };
            headers.insert(header::AGE, HeaderValue::from(age));
            with_cache_status(pipeline, status, headers, body, &cs)
        }
    };
    if entry.tier == Tier::Disk {
        super::served::set_source(&mut resp, Source::Disk);
    }
    resp
}

/// The downstream head of a stored response, minus Age and Cache-Status:
/// what [`finish`] would make of its stored headers. (Not cached per object:
/// a second header map per stored object cost more memory than it saved.)
pub fn cached_head(pipeline: &Pipeline, stored: &HeaderMap) -> HeaderMap {
    let mut headers = stored.clone();
    add_via(pipeline, &mut headers, http::Version::HTTP_11);
    headers
}

/// Remove the fields meant for this cache only (targeted fields such as
/// CDN-Cache-Control, surrogate keys) from a response to a client. Not
/// from a response to a peer (tiered caching): the edge needs them to
/// store the object as the home peer did, and to purge it by key.
pub fn strip_downstream(pipeline: &Pipeline, headers: &mut HeaderMap) {
    for f in &pipeline.strip_downstream {
        headers.remove(f);
    }
}

/// Via (this cache's hop); the cache-only fields are stripped last, by
/// [`strip_downstream`], once it is known whether the client is a peer.
fn add_via(pipeline: &Pipeline, headers: &mut HeaderMap, upstream_version: http::Version) {
    if upstream_version == http::Version::HTTP_11 {
        headers.append(header::VIA, pipeline.via_11.clone());
    } else {
        append_via(headers, upstream_version, &pipeline.cfg.server.cache_name);
    }
}

/// Add Cache-Status (appended to an upstream one) and build the response.
fn with_cache_status(
    pipeline: &Pipeline,
    status: StatusCode,
    mut headers: HeaderMap,
    body: Body,
    cs: &CacheStatus,
) -> Response<Body> {
    if let Some(v) = cs.append_to(headers.get(&CACHE_STATUS), &pipeline.cfg.server.cache_name) {
        headers.insert(CACHE_STATUS, v);
    }
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    // A hit, or a stored response the origin revalidated (304): the body
    // comes from the store (its tier is set by the caller when known).
    let from_store = cs.hit || (cs.fwd == Some(Fwd::Stale) && cs.fwd_status == Some(304));
    let source = if from_store {
        Source::Memory
    } else {
        Source::Origin
    };
    resp.extensions_mut().insert(Served::new(cs, source));
    resp
}

const CACHE_STATUS: header::HeaderName = header::HeaderName::from_static("cache-status");

/// The status and body for a GET served from `entry`, honouring Range (RFC 9110 §14).
fn ranged(
    pipeline: &Pipeline,
    entry: &Entry,
    method: &Method,
    request: &HeaderMap,
    headers: &mut HeaderMap,
) -> (StatusCode, Body) {
    let held = entry.body.len();
    // The stored bytes are [first, first + held) of a `len`-byte representation;
    // proxy::handle only serves a partial entry when it covers the request.
    let (first, len) = range::stored_span(&entry.meta, held).unwrap_or((0, held));
    // Bytes [s, e] of the representation, as a body.
    let part = |s: u64, e: u64| -> Body {
        match &entry.body {
            Payload::Inline(b) => body::full(b.slice((s - first) as usize..=(e - first) as usize)),
            Payload::Chunked(m) => chunked_body::range(
                pipeline.services.store.clone(),
                entry.key,
                m.clone(),
                s - first,
                e - first,
            ),
        }
    };
    let full = || match &entry.body {
        Payload::Inline(b) => body::full(b.clone()),
        Payload::Chunked(_) if held == 0 => body::empty(),
        Payload::Chunked(_) => part(first, first + held - 1),
    };
    match range::answer(method, request, &entry.meta, len) {
        RangeAnswer::Full => (entry.meta.status, full()),
        RangeAnswer::Unsatisfiable => {
            range::set_unsatisfiable_fields(headers, len);
            (StatusCode::RANGE_NOT_SATISFIABLE, body::empty())
        }
        RangeAnswer::Partial(ranges) if ranges.len() == 1 => {
            let (start, end) = ranges[0];
            range::set_part_fields(headers, start, end, len);
            (StatusCode::PARTIAL_CONTENT, part(start, end))
        }
        // A multipart answer is assembled in memory; for a chunked (large)
        // body the whole representation is sent instead, which RFC 9110
        // §14.2 allows.
        RangeAnswer::Partial(_) if matches!(entry.body, Payload::Chunked(_)) => {
            (entry.meta.status, full())
        }
        RangeAnswer::Partial(ranges) => {
            let Payload::Inline(stored) = &entry.body else {
                return (entry.meta.status, full());
            };
            let boundary = entry.key.to_hex()[..24].to_string();
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let parts: Vec<(u64, u64, bytes::Bytes)> = ranges
                .iter()
                .map(|&(s, e)| {
                    (
                        s,
                        e,
                        stored.slice((s - first) as usize..=(e - first) as usize),
                    )
                })
                .collect();
            let body_bytes = range::multipart(&parts, len, content_type.as_deref(), &boundary);
            headers.insert(
                header::CONTENT_TYPE,
                value(&format!("multipart/byteranges; boundary={boundary}")),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body_bytes.len()));
            (StatusCode::PARTIAL_CONTENT, body::full(body_bytes))
        }
    }
}

fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""))
}

/// Send a response downstream with this node's fields added: Via and
/// Cache-Status; targeted fields removed when so configured.
pub fn finish(
    pipeline: &Pipeline,
    status: StatusCode,
    mut headers: HeaderMap,
    body: Body,
    cs: &CacheStatus,
    upstream_version: http::Version,
) -> Response<Body> {
    add_via(pipeline, &mut headers, upstream_version);
    with_cache_status(pipeline, status, headers, body, cs)
}

/// A 304 (RFC 9110 §15.4.5) made from the head of the response it stands
/// for: without the fields that describe a body (RFC 9111 §4.3.4 keeps
/// them in the store, not in the 304), with `Age` when it comes from the
/// cache. The one place a 304 is built: for a hit, a collapsed follower and
/// a fill whose client's precondition held.
pub fn not_modified(
    pipeline: &Pipeline,
    mut headers: HeaderMap,
    age: Option<u64>,
    cs: &CacheStatus,
    upstream_version: http::Version,
) -> Response<Body> {
    for h in &conditional::NOT_IN_304 {
        headers.remove(h);
    }
    if let Some(age) = age {
        headers.insert(header::AGE, HeaderValue::from(age));
    }
    let empty = body::empty();
    finish(
        pipeline,
        StatusCode::NOT_MODIFIED,
        headers,
        empty,
        cs,
        upstream_version,
    )
}

/// The answer to a failed origin exchange. The client learns only the
/// status and the Cache-Status detail (e.g. `origin-unreachable`): the
/// origin's address and the socket error would tell anyone where the origin
/// is, which is much of why a CDN sits in front of it. The details go to
/// the log.
pub fn upstream_error(
    pipeline: &Pipeline,
    e: &crate::error::UpstreamError,
    mut cs: CacheStatus,
) -> Response<Body> {
    tracing::warn!(error = %e, detail = e.as_str(), "origin request failed");
    cs.detail = Some(e.as_str());
    error(pipeline, e.status(), e.public_message(), cs)
}

/// [`upstream_error`] for a gRPC request: a trailers-only gRPC response
/// whose grpc-status comes from the failure's kind (`grpc::code_for`).
pub fn upstream_error_grpc(
    pipeline: &Pipeline,
    e: &crate::error::UpstreamError,
    mut cs: CacheStatus,
) -> Response<Body> {
    tracing::warn!(error = %e, detail = e.as_str(), "origin request failed (gRPC)");
    cs.detail = Some(e.as_str());
    grpc_error(pipeline, super::grpc::code_for(e), e.public_message(), cs)
}

/// A trailers-only gRPC error response, with this node's fields added.
pub fn grpc_error(
    pipeline: &Pipeline,
    code: super::grpc::Code,
    message: &str,
    cs: CacheStatus,
) -> Response<Body> {
    let (parts, body) = super::grpc::error_response(code, message).into_parts();
    finish(
        pipeline,
        parts.status,
        parts.headers,
        body,
        &cs,
        http::Version::HTTP_11,
    )
}

/// An error response with a one-line text body.
pub fn error(
    pipeline: &Pipeline,
    status: StatusCode,
    message: &str,
    cs: CacheStatus,
) -> Response<Body> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let text = format!(
        "{} {}: {message}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    let mut resp = finish(
        pipeline,
        status,
        headers,
        body::full(text),
        &cs,
        http::Version::HTTP_11,
    );
    super::served::set_source(&mut resp, Source::Generated);
    resp
}
