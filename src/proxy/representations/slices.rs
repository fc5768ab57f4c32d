//! Slices: ranges of objects too large to fetch whole.
//!
//! An object whose complete length is above `cache.slice_above_bytes` is
//! never fetched whole for a Range request. The node fetches it in aligned
//! slices of `cache.slice_bytes` (`Range: bytes=a-b` to the origin, with
//! If-Range so that a changed object is noticed), stores each slice as a
//! partial response under its own key, and answers the client's range from
//! the slices it covers. A seek in a 4 GiB video fetches only the slices it
//! touches; each slice is fetched once (concurrent requests for one slice
//! wait for each other), and later ranges over stored slices are hits.
//!
//! Slices carry their object's surrogate keys and URL, so purges reach them.
//! Every slice must carry the validators (ETag, Last-Modified) of the first
//! one the answer used: a slice of a changed object ends the answer with an
//! error (the client's framing tells it so) and the object's size is
//! forgotten. Objects with Vary are not sliced.

use super::super::exchange::Exchange;
use super::super::forwarding::upstream_request;
use super::super::lookup::{self, Lookup};
use super::super::respond;
use super::super::{fetch, origin_send};
use crate::body::{self, Body, BoxError};
use crate::clock;
use crate::http_cache::admission::{self, Admission, Admit, Received};
use crate::http_cache::cache_status::CacheStatus;
use crate::http_cache::cached_response::StoredMeta;
use crate::http_cache::decision::{self, Decision};
use crate::http_cache::range::{self, RangeAnswer};
use crate::http_cache::storable::{NoCacheReason, RequestFacts};
use crate::http_cache::{conditional, key};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use parking_lot::Mutex;
use std::collections::HashMap;

use std::time::{Duration, Instant};
use storage::{ObjectKey, Payload, Purged, StoredObject};

/// How long a learnt object size is trusted.
const KNOWN_FOR: Duration = Duration::from_secs(600);
/// Most object sizes remembered.
const MAX_KNOWN: usize = 65_536;

/// What the node knows of a sliced object: its length and validators.
#[derive(Clone, Debug)]
pub struct Known {
    /// Complete length in bytes.
    pub len: u64,
    /// Its ETag and Last-Modified, for If-Range and slice consistency.
    pub validators: HeaderMap,
}

impl Known {
    fn of(len: u64, headers: &HeaderMap) -> Known {
        let mut validators = HeaderMap::new();
        for h in [header::ETAG, header::LAST_MODIFIED] {
            if let Some(v) = headers.get(&h) {
                validators.insert(h, v.clone());
            }
        }
        Known { len, validators }
    }

    /// Does `headers` carry the same validators?
    fn same_object(&self, headers: &HeaderMap) -> bool {
        [header::ETAG, header::LAST_MODIFIED]
            .iter()
            .all(|h| self.validators.get(h) == headers.get(h))
    }
}

/// Object sizes learnt from origin responses, and the per-slice fetch locks.
#[derive(Default)]
pub struct SliceIndex {
    known: Mutex<HashMap<ObjectKey, (Known, Instant)>>,
    fetching: super::super::keyed_locks::KeyedLocks,
}

impl SliceIndex {
    /// The size of `primary`, if it is known to be sliced.
    pub fn get(&self, primary: &ObjectKey, now: Instant) -> Option<Known> {
        let map = self.known.lock();
        let (k, at) = map.get(primary)?;
        (now.saturating_duration_since(*at) < KNOWN_FOR).then(|| k.clone())
    }

    fn remember(&self, primary: ObjectKey, known: Known, now: Instant) {
        let mut map = self.known.lock();
        if map.len() >= MAX_KNOWN {
            map.retain(|_, (_, at)| now.saturating_duration_since(*at) < KNOWN_FOR);
        }
        if map.len() < MAX_KNOWN {
            map.insert(primary, (known, now));
        }
    }

    fn forget(&self, primary: &ObjectKey) {
        self.known.lock().remove(primary);
    }
}

/// Is the origin's response (to a whole-object fetch made for a range) an
/// object to slice instead? Then what is known of it, remembered.
pub fn too_large(ex: &Exchange, status: StatusCode, headers: &HeaderMap) -> Option<Known> {
    let c = &ex.pipeline.cfg.cache;
    let len = super::range_fill::complete_length(status, headers)?;
    if c.slice_bytes == 0 || len <= c.slice_above_bytes || headers.contains_key(header::VARY) {
        return None;
    }
    let known = Known::of(len, headers);
    let now = clock::instant();
    ex.pipeline.slices.remember(ex.primary, known.clone(), now);
    Some(known)
}

/// Answer the client's Range from the slices of an object of `known` size.
pub async fn serve(ex: &Exchange, known: Known, mut cs: CacheStatus) -> Response<Body> {
    let pipeline = &ex.pipeline;
    cs.detail = Some("slice");
    let (start, end) = match range::answer_for(
        &Method::GET,
        &ex.parts.headers,
        StatusCode::OK,
        &known.validators,
        known.len,
    ) {
        RangeAnswer::Partial(r) if r.len() == 1 => r[0],
        RangeAnswer::Unsatisfiable => {
            let mut headers = HeaderMap::new();
            range::set_unsatisfiable_fields(&mut headers, known.len);
            let status = StatusCode::RANGE_NOT_SATISFIABLE;
            let v = http::Version::HTTP_11;
            return respond::finish(pipeline, status, headers, body::empty(), &cs, v);
        }
        // Several ranges, or an If-Range that does not match: the origin
        // answers the request as the client sent it.
        _ => return fetch::pass(ex, body::empty(), NoCacheReason::TooLarge).await,
    };
    let size = pipeline.cfg.cache.slice_bytes;
    let (first, last) = (start / size, end / size);
    let head = match slice(ex, &known, first).await {
        Ok(s) => s,
        Err(e) => return slice_failed(ex, &e, cs),
    };
    let mut headers = head.headers.clone();
    range::set_part_fields(&mut headers, start, end, known.len);
    headers.remove(header::AGE);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(2);
    let ex2 = ex.background();
    tokio::spawn(async move {
        let mut current = head;
        let mut idx = first;
        loop {
            let base = idx * size;
            let s = start.max(base) - base;
            let e = (end.min(base + size - 1) - base) as usize;
            let part = current
                .body
                .slice(s as usize..=e.min(current.body.len() - 1));
            if tx.send(Ok(Frame::data(part))).await.is_err() || idx == last {
                return;
            }
            idx += 1;
            current = match slice(&ex2, &known, idx).await {
                Ok(s) => s,
                Err(e) => {
                    ex2.pipeline.slices.forget(&ex2.primary);
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    let body = body::boxed(http_body_util::StreamBody::new(stream));
    let v = http::Version::HTTP_11;
    respond::finish(pipeline, StatusCode::PARTIAL_CONTENT, headers, body, &cs, v)
}

fn slice_failed(ex: &Exchange, why: &str, cs: CacheStatus) -> Response<Body> {
    ex.pipeline.slices.forget(&ex.primary);
    tracing::warn!(reason = why, "slice fetch failed");
    respond::error(
        &ex.pipeline,
        StatusCode::BAD_GATEWAY,
        "slice fetch failed",
        cs,
    )
}

/// One slice's header fields and bytes.
struct Slice {
    headers: HeaderMap,
    body: Bytes,
}

/// The key slice `idx` (of `size` bytes) of `primary` is stored under.
fn slice_key(primary: &ObjectKey, size: u64, idx: u64) -> ObjectKey {
    let selector = format!("{size}:{idx}");
    key::variant(primary, &[("edgecache-slice".to_string(), Some(selector))])
}

/// Slice `idx`: stored, or fetched (once, however many ask at a time).
async fn slice(ex: &Exchange, known: &Known, idx: u64) -> Result<Slice, String> {
    let pipeline = &ex.pipeline;
    let size = pipeline.cfg.cache.slice_bytes;
    let key = slice_key(&ex.primary, size, idx);
    let (a, b) = (idx * size, ((idx + 1) * size).min(known.len) - 1);
    let lock = pipeline.slices.fetching.lock_for(key);
    let _held = lock.lock().await;
    if let Some(s) = stored(ex, known, key, b - a + 1).await {
        return Ok(s);
    }
    let mut req = upstream_request(ex, body::empty());
    conditional::remove_preconditions(req.headers_mut());
    let h = req.headers_mut();
    let range = HeaderValue::from_str(&format!("bytes={a}-{b}")).map_err(|e| e.to_string())?;
    h.insert(header::RANGE, range);
    h.remove(header::IF_RANGE);
    if let Some(v) = known
        .validators
        .get(header::ETAG)
        .filter(|v| !v.as_bytes().starts_with(b"W/"))
        .or_else(|| known.validators.get(header::LAST_MODIFIED))
    {
        h.insert(header::IF_RANGE, v.clone());
    }
    let (result, (request_time, response_time, purge_seq)) = origin_send::send(ex, req, None).await;
    let resp = result.map_err(|e| format!("origin: {e}"))?;
    let (mut parts, rbody) = resp.into_parts();
    super::super::forwarding::remove_hop_by_hop(&mut parts.headers);
    let want = format!("bytes {a}-{b}/{}", known.len);
    let cr = parts.headers.get(header::CONTENT_RANGE);
    if parts.status != StatusCode::PARTIAL_CONTENT
        || cr.is_none_or(|v| v.as_bytes() != want.as_bytes())
    {
        return Err(format!(
            "origin answered {} to a slice request, not {want}",
            parts.status
        ));
    }
    if !known.same_object(&parts.headers) {
        return Err("the object changed while its slices were fetched".into());
    }
    let limited = http_body_util::Limited::new(rbody, (b - a + 1) as usize);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| format!("slice body: {e}"))?
        .to_bytes();
    if bytes.len() as u64 != b - a + 1 {
        return Err("slice body shorter than its range".into());
    }
    if parts.headers.get(header::DATE).is_none() {
        parts
            .headers
            .insert(header::DATE, origin_send::date_value(response_time));
    }
    let admission = admission::admit(
        &Admit {
            request: RequestFacts {
                method: &Method::GET,
                request: &ex.parts.headers,
                request_no_store: ex.directives.no_store(),
                content_location_is_target: false,
                set_cookie: ex.site.set_cookie,
            },
            primary: key,
            keyed_fields: &pipeline.keyed_fields,
            max_object_bytes: pipeline.max_object_bytes(),
            vary: &ex.site.vary.rules,
        },
        &Received {
            status: parts.status,
            headers: &parts.headers,
            request_time,
            response_time,
            purge_seq,
        },
        &pipeline.policy,
    );
    if let Admission::Store(mut a) = admission
        && a.key == key
    {
        a.meta.surrogate_keys = pipeline.surrogate_keys(&parts.headers);
        let meta: Bytes = StoredMeta::Response(a.meta).encode().into();
        pipeline
            .services
            .store
            .put(key, StoredObject::new(meta, bytes.clone()));
    }
    Ok(Slice {
        headers: parts.headers,
        body: bytes,
    })
}

/// Slice `key` from the store, when it is fresh, not purged, of the same
/// object and complete.
async fn stored(ex: &Exchange, known: &Known, key: ObjectKey, len: u64) -> Option<Slice> {
    let pipeline = &ex.pipeline;
    let Lookup::Hit(entry) =
        lookup::find(pipeline, key, &HeaderMap::new(), &ex.site.vary.rules).await
    else {
        return None;
    };
    let Payload::Inline(bytes) = &entry.body else {
        return None;
    };
    let t = &ex.target;
    let keys = &entry.meta.surrogate_keys;
    if pipeline
        .services
        .purge
        .check(&t.host, &t.path_and_query, keys, entry.meta.purge_seq)
        != Purged::No
    {
        return None;
    }
    let fresh = matches!(
        decision::decide_with(clock::now(), &ex.directives, &entry.meta, &entry.facts),
        Decision::Fresh { .. }
    );
    let same = known.same_object(&entry.meta.headers);
    (fresh && same && bytes.len() as u64 == len).then(|| Slice {
        headers: entry.meta.headers.clone(),
        body: bytes.clone(),
    })
}
