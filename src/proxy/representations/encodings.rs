//! One stored copy, every encoding: which form of a stored response a
//! client gets (the stored one, or one transcoded from it), and the
//! transcoded forms cached beside the stored copy.
//!
//! The node asks the origin for one coding (`origin_accept_encoding`,
//! identity by default) whatever the client sent, so every client shares
//! one fetch and one stored object (`Exchange::new` moves the client's
//! Accept-Encoding aside). Each other form is made on first demand, on a
//! blocking thread, and stored under [`content_coding::form_key`]: found
//! only through its stored copy, so the copy's purge checks cover it.
//! docs/encodings.md has the rules (ETags, no-transform, ranges, limits).

use super::super::exchange::Exchange;
use super::super::lookup::Entry;
use super::super::respond;
use super::transcode::{self, Levels};
use crate::body::Body;
use crate::clock;
use crate::config::CompressionConfig;
use crate::http_cache::cache_status::CacheStatus;
use crate::http_cache::cached_response::CachedResponse;
use crate::http_cache::conditional;
use crate::http_cache::content_coding::{self, Coding};
use crate::metrics::FormOutcome;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;
use storage::{ObjectKey, Payload, StoredObject};

/// A site's content-coding rules, resolved from its config once.
#[derive(Clone, Debug)]
pub struct Rules {
    /// The site's `[compression]` settings.
    pub cfg: CompressionConfig,
    /// The codings the node makes, in its order of preference.
    pub made: Vec<Coding>,
    /// The Accept-Encoding sent to the origin.
    pub origin_accept_encoding: HeaderValue,
    /// `cfg.types`, prepared for matching on every hit.
    pub types: content_coding::TypeMatcher,
}

impl Rules {
    /// Resolve a validated config.
    pub fn new(cfg: CompressionConfig) -> Rules {
        Rules {
            made: cfg
                .encodings
                .iter()
                .filter_map(|e| Coding::from_token(e))
                .filter(|c| *c != Coding::Identity)
                .collect(),
            origin_accept_encoding: HeaderValue::from_str(&cfg.origin_accept_encoding)
                .unwrap_or(HeaderValue::from_static("identity")),
            types: content_coding::TypeMatcher::new(&cfg.types),
            cfg,
        }
    }

    /// For a client's GET or HEAD: take its Accept-Encoding out of
    /// `request` (returned, all lines joined; `None` when absent) and put
    /// the node's own in. `None` and no change when negotiation is off.
    pub fn take_client_accept(&self, request: &mut HeaderMap) -> Option<String> {
        if !self.cfg.enabled {
            return None;
        }
        let mut lines = request.get_all(header::ACCEPT_ENCODING).iter();
        let taken = match (lines.next(), lines.next()) {
            (None, _) => None,
            (Some(one), None) => Some(String::from_utf8_lossy(one.as_bytes()).into_owned()),
            (Some(_), Some(_)) => {
                let all: Vec<String> = request
                    .get_all(header::ACCEPT_ENCODING)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                Some(all.join(", "))
            }
        };
        request.insert(header::ACCEPT_ENCODING, self.origin_accept_encoding.clone());
        taken
    }
}

/// Which form a client gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Negotiation does not apply (off, no-transform, not a 200, a type
    /// not compressed, an unknown coding): serve it as stored.
    Untouched,
    /// The stored form, announcing `Vary: Accept-Encoding`.
    Stored,
    /// The stored copy transcoded into this coding.
    Transform(Coding),
}

/// The form of `meta` to serve `ex`'s client. `inline_len`: the body's
/// length when it is held in one piece (only those are transcoded).
pub fn choose(ex: &Exchange, meta: &CachedResponse, inline_len: Option<u64>) -> Choice {
    let rules = &ex.site.compression;
    if !rules.cfg.enabled || meta.status != StatusCode::OK {
        return Choice::Untouched;
    }
    // The cheap tests first: this runs on every hit.
    let compressible = rules.types.matches(meta.headers.get(header::CONTENT_TYPE));
    let identity = !meta.headers.contains_key(header::CONTENT_ENCODING);
    if identity && !compressible {
        return Choice::Untouched;
    }
    if content_coding::no_transform(&meta.headers) {
        return Choice::Untouched;
    }
    let Some(stored) = content_coding::stored_coding(&meta.headers) else {
        return Choice::Untouched;
    };
    // An identity copy that no form will ever be made of (a type not
    // compressed, a body below `min_bytes` or above `max_bytes`, or of
    // unknown length) is served as it is, without `Vary: Accept-Encoding`:
    // the response does not vary.
    let len = inline_len.or_else(|| {
        let cl = meta.headers.get(header::CONTENT_LENGTH)?;
        cl.to_str().ok()?.trim().parse().ok()
    });
    let sized = len.is_some_and(|n| n >= rules.cfg.min_bytes && n <= rules.cfg.max_bytes);
    if stored == Coding::Identity && (!compressible || !sized) {
        return Choice::Untouched;
    }
    let request = &ex.parts.headers;
    let mut available = vec![stored];
    if let Some(len) = inline_len.filter(|n| *n <= rules.cfg.max_bytes)
        && !content_coding::no_transform(request)
    {
        // Ranges are served from the stored form only (docs/encodings.md).
        if compressible && len >= rules.cfg.min_bytes && !conditional::has_range(request) {
            available.extend(rules.made.iter().filter(|c| **c != stored));
        }
        if stored != Coding::Identity {
            available.push(Coding::Identity);
        }
    }
    match content_coding::negotiate(ex.accept_encoding.as_deref(), &available) {
        Some(c) if c != stored => Choice::Transform(c),
        // Nothing acceptable: the stored form, as RFC 9110 §12.5.3 allows.
        _ => Choice::Stored,
    }
}

/// The length of a body held in one piece.
pub fn inline_len(body: &Payload) -> Option<u64> {
    match body {
        Payload::Inline(b) => Some(b.len() as u64),
        Payload::Chunked(_) => None,
    }
}

/// Serve a stored response in the form the client prefers (the hit path
/// in `proxy::serve` does the same inline; this is for revalidation's
/// answers from the stored copy).
pub async fn answer(ex: &Exchange, entry: Entry, age: u64, cs: CacheStatus) -> Response<Body> {
    match choose(ex, &entry.meta, inline_len(&entry.body)) {
        Choice::Untouched => {
            let (method, request) = (&ex.parts.method, &ex.parts.headers);
            respond::cached_owned(&ex.pipeline, entry, method, request, age, cs)
        }
        Choice::Stored => serve_stored(ex, entry, age, cs),
        Choice::Transform(to) => Box::pin(serve_transformed(ex, entry, to, age, cs)).await,
    }
}

/// Serve a hit in its stored form, with `Vary: Accept-Encoding`.
pub fn serve_stored(ex: &Exchange, mut entry: Entry, age: u64, cs: CacheStatus) -> Response<Body> {
    content_coding::vary_on_accept_encoding(&mut Arc::make_mut(&mut entry.meta).headers);
    let (method, request) = (&ex.parts.method, &ex.parts.headers);
    respond::cached_owned(&ex.pipeline, entry, method, request, age, cs)
}

/// Marks a form that could not be made (a body past the decode cap, a
/// corrupt one), so later hits pass the stored form without retrying.
const FAILED: &[u8] = b"edgecache-form-failed";
/// Marks a form's store entry (its headers come from the stored copy).
const FORM: &[u8] = b"edgecache-form";

/// Serve `entry` transcoded into `to`: the cached form, or one made now
/// (and stored). The stored form is served when it cannot be made.
pub async fn serve_transformed(
    ex: &Exchange,
    entry: Entry,
    to: Coding,
    age: u64,
    cs: CacheStatus,
) -> Response<Body> {
    let pipeline = &ex.pipeline;
    let key = content_coding::form_key(&entry.key, &entry.meta, to);
    let Some(body) = form(ex, &entry, key, to).await else {
        return serve_stored(ex, entry, age, cs);
    };
    let form = Entry {
        key,
        meta: Arc::new(transformed(&entry.meta, to, body.len())),
        body,
        facts: entry.facts.clone(),
        tier: entry.tier,
    };
    // A transformed form answers the whole representation (ranges are
    // served from the stored form only).
    let mut request = ex.parts.headers.clone();
    for h in &conditional::RANGE_FIELDS {
        request.remove(h);
    }
    respond::cached(pipeline, &form, &ex.parts.method, &request, age, cs)
}

/// The body of `entry`'s form in `to`, stored under `key`: found, or made
/// now (once, however many ask at a time) and stored. `None` when it cannot
/// be made; a marker remembers that.
async fn form(ex: &Exchange, entry: &Entry, key: ObjectKey, to: Coding) -> Option<Payload> {
    let pipeline = &ex.pipeline;
    let metrics = &pipeline.services.metrics.content_coding;
    let found = |obj: StoredObject| {
        (obj.meta.as_ref() != FAILED).then(|| {
            metrics.count(to, FormOutcome::Reused);
            obj.body
        })
    };
    if let Some(obj) = pipeline.services.store.get(&key).await {
        return found(obj);
    }
    let lock = pipeline.forms_making.lock_for(key);
    let _making = lock.lock().await;
    if let Some(obj) = pipeline.services.store.get(&key).await {
        return found(obj);
    }
    match make(ex, entry, to).await {
        Some(b) => {
            metrics.count(to, FormOutcome::Made);
            pipeline
                .services
                .store
                .put(key, StoredObject::new(Bytes::from_static(FORM), b.clone()));
            Some(Payload::Inline(b))
        }
        None => {
            metrics.count(to, FormOutcome::Failed);
            let marker = StoredObject::new(Bytes::from_static(FAILED), Bytes::new());
            pipeline.services.store.put(key, marker);
            None
        }
    }
}

/// Transcode `entry`'s body into `to` on a blocking thread.
async fn make(ex: &Exchange, entry: &Entry, to: Coding) -> Option<Bytes> {
    let Payload::Inline(src) = &entry.body else {
        return None;
    };
    let from = content_coding::stored_coding(&entry.meta.headers)?;
    let (src, cfg) = (src.clone(), &ex.site.compression.cfg);
    let (levels, max) = (Levels::from(cfg), cfg.max_bytes);
    let work = move || {
        let started = clock::instant();
        let made = transcode::transcode(&src, from, to, levels, max);
        (made, clock::instant().saturating_duration_since(started))
    };
    let (made, spent) = match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!(error = %e, "transcoding task failed");
            return None;
        }
    };
    ex.pipeline
        .services
        .metrics
        .content_coding
        .add_transcode_time(spent);
    match made {
        Ok(v) => Some(Bytes::from(v)),
        Err(e) => {
            tracing::info!(error = %e, from = from.as_str(), to = to.as_str(),
                "cannot transcode; serving the stored form");
            None
        }
    }
}

/// After a 304 revalidation refreshed `old` into `new` (the same bytes, a
/// new head): move the forms made from `old` to `new`'s keys, so that they
/// are not made again. Form keys cover the copy's receipt time, which a
/// 304 changes.
pub async fn carry_forms(ex: &Exchange, old: &Entry, new: &Entry) {
    if !ex.site.compression.cfg.enabled || matches!(old.body, Payload::Chunked(_)) {
        return;
    }
    let pipeline = &ex.pipeline;
    for c in Coding::ALL {
        let from = content_coding::form_key(&old.key, &old.meta, c);
        let to = content_coding::form_key(&new.key, &new.meta, c);
        if from == to {
            continue;
        }
        if let Some(obj) = pipeline.services.store.get(&from).await {
            if obj.meta.as_ref() != FAILED {
                pipeline
                    .services
                    .metrics
                    .content_coding
                    .count(c, FormOutcome::Carried);
            }
            pipeline.services.store.put(to, obj);
            pipeline.services.store.remove(&from);
        }
    }
}

/// The stored response's head for its form in `to`, `len` bytes long:
/// Content-Encoding and Content-Length for that form, a weak suffixed ETag
/// (RFC 9110 §8.8.1), `Vary: Accept-Encoding`, and no fields that describe
/// the stored bytes only (Accept-Ranges, digests).
pub fn transformed(meta: &CachedResponse, to: Coding, len: u64) -> CachedResponse {
    let mut m = meta.clone();
    let h = &mut m.headers;
    h.remove(header::CONTENT_ENCODING);
    if to != Coding::Identity {
        h.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(to.as_str()),
        );
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(etag) = h.remove(header::ETAG)
        && let Some(t) = content_coding::transformed_etag(&etag, to)
    {
        h.insert(header::ETAG, t);
    }
    for f in [
        "accept-ranges",
        "content-md5",
        "digest",
        "content-digest",
        "repr-digest",
    ] {
        h.remove(f);
    }
    content_coding::vary_on_accept_encoding(h);
    m
}

/// The miss path's answer when the client wants another form than the
/// origin sent: read the (filling) body whole, then serve the form made
/// from it. `body` is at most `max_bytes` long (its Content-Length said so).
pub async fn serve_filled(
    ex: &Exchange,
    key: ObjectKey,
    meta: CachedResponse,
    mut body: Body,
    to: Coding,
    cs: CacheStatus,
) -> Response<Body> {
    let pipeline = &ex.pipeline;
    let cap = ex.site.compression.cfg.max_bytes as usize;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    if buf.len() + d.len() > cap {
                        let msg = "origin body longer than its Content-Length";
                        return respond::error(pipeline, StatusCode::BAD_GATEWAY, msg, cs);
                    }
                    buf.extend_from_slice(d);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "origin body failed while buffering to transcode");
                return respond::error(pipeline, StatusCode::BAD_GATEWAY, "origin body failed", cs);
            }
        }
    }
    let age = meta.current_age(clock::now());
    let entry = Entry::new(key, meta, Payload::Inline(buf.freeze()), pipeline);
    serve_transformed(ex, entry, to, age, cs).await
}

/// Remove every form made from `entry` (a hard purge of the stored copy).
pub fn remove_forms(ex: &Exchange, entry: &Entry) {
    for c in Coding::ALL {
        ex.pipeline
            .services
            .store
            .remove(&content_coding::form_key(&entry.key, &entry.meta, c));
    }
}
