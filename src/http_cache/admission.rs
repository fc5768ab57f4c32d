//! Admission: what the cache does with a response the origin just sent for a
//! request that missed (RFC 9111 §3, §4, §4.1).
//!
//! One pure function decides, with the time as a parameter: whether the
//! response is stored and why not, the metadata stored with it, the key and
//! Vary index it goes under, and whether clients that waited for the same
//! fetch (request collapsing) may be given it. The I/O around it only carries
//! the verdict out.
//!
//! Sharing with waiters is stricter than storing: a waiter may receive the
//! response only when it could have been served to the waiter from the cache
//! without validation (§4): stored, fresh, and without `no-cache`. A response
//! stored only to be revalidated later (`no-cache`, `max-age=0`, no
//! freshness information at all) is never handed to another client. Whether
//! the waiter's own request matches (Vary, its request directives) is checked
//! per waiter by [`waiter_may_use`].

use super::cached_response::{CachedResponse, effective_cache_control};
use super::decision::{self, Decision, RequestDirectives, RevalidateReason};
use super::storable::{NoCacheReason, RequestFacts, Storable, storable};
use super::vary::{self, Vary};
use super::vary_normalise::VaryRules;
use super::{Policy, age, key};
use http::{HeaderMap, StatusCode, header};
use std::time::SystemTime;
use storage::ObjectKey;

/// The request side of an admission.
#[derive(Clone, Copy, Debug)]
pub struct Admit<'a> {
    /// Method, request fields, request no-store, Set-Cookie policy.
    pub request: RequestFacts<'a>,
    /// The request's primary key (§2).
    pub primary: ObjectKey,
    /// Request fields the operator forwards to the origin although they are
    /// usually unkeyed (e.g. X-Forwarded-Host): they join every response's
    /// secondary key as if the origin had listed them in Vary, so a
    /// response shaped by one value is never served for another (lower-case).
    pub keyed_fields: &'a [String],
    /// The largest body the store accepts.
    pub max_object_bytes: u64,
    /// The site's declared normalisation of selecting fields.
    pub vary: &'a VaryRules,
}

/// The response as received, hop-by-hop fields removed and Date present.
#[derive(Clone, Copy, Debug)]
pub struct Received<'a> {
    /// Its status.
    pub status: StatusCode,
    /// Its header fields.
    pub headers: &'a HeaderMap,
    /// When the request was sent (§4.2.3 `request_time`).
    pub request_time: SystemTime,
    /// When the response arrived (§4.2.3 `response_time`); also "now".
    pub response_time: SystemTime,
    /// The purge sequence before the request was sent.
    pub purge_seq: u64,
}

/// Whether clients waiting on the same fetch may be given the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Share {
    /// Fresh and reusable without validation: waiters whose request
    /// matches may stream it.
    Waiters,
    /// Stored, but a stored copy could not be served without validation
    /// (the reason): every waiter goes to the origin itself.
    Alone(RevalidateReason),
}

/// A response admitted to the store.
#[derive(Clone, Debug)]
pub struct Admitted {
    /// What is stored: the response minus Age, Trailer, and the fields
    /// `private=`/`no-cache=` (and, under `strip`, Set-Cookie) name.
    /// Surrogate keys are left for the caller to fill.
    pub meta: CachedResponse,
    /// The key it is stored under: the primary key, or a variant key.
    pub key: ObjectKey,
    /// When it varies: the primary key and the selecting field names, for
    /// the Vary index stored at the primary key.
    pub vary_index: Option<(ObjectKey, Vec<String>)>,
    /// Remaining freshness at `response_time`, in seconds.
    pub ttl: i64,
    /// Whether waiters may be given it.
    pub share: Share,
}

/// The verdict.
#[derive(Clone, Debug)]
pub enum Admission {
    /// Store it (and stream it to its client).
    Store(Box<Admitted>),
    /// Do not store it; the reason feeds Cache-Status and logs. Waiters go
    /// to the origin themselves and hit-for-pass applies.
    Pass(NoCacheReason),
}

/// Decide what happens to `resp`, received for `req` (RFC 9111 §3, §4.1).
pub fn admit(req: &Admit<'_>, resp: &Received<'_>, policy: &Policy) -> Admission {
    let eff = effective_cache_control(resp.headers, policy);
    let strip = match storable(&req.request, resp.status, resp.headers, &eff) {
        Storable::No(reason) => return Admission::Pass(reason),
        Storable::Yes { strip } => strip,
    };
    let declared_len = resp
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > req.max_object_bytes) {
        return Admission::Pass(NoCacheReason::TooLarge);
    }
    let mut stored = resp.headers.clone();
    stored.remove(header::AGE);
    // Trailers are relayed while streaming but not stored, so neither is their announcement.
    stored.remove(header::TRAILER);
    for f in &strip {
        stored.remove(f.as_str());
    }
    let date = stored
        .get(header::DATE)
        .and_then(super::cached_response::http_date);
    let mut meta = CachedResponse {
        status: resp.status,
        headers: stored,
        request_time: resp.request_time,
        response_time: resp.response_time,
        initial_age: age::initial_age(
            age::age_value(resp.headers),
            date,
            resp.request_time,
            resp.response_time,
        ),
        variant: Vec::new(),
        purge_seq: resp.purge_seq,
        surrogate_keys: Vec::new(),
    };
    let mut names = match vary::parse(resp.headers) {
        Vary::Fields(names) => names,
        _ => Vec::new(),
    };
    for f in req.keyed_fields {
        if !names.contains(f) {
            names.push(f.clone());
        }
    }
    let (store_key, vary_index) = if names.is_empty() {
        (req.primary, None)
    } else {
        meta.variant = vary::for_store(&names, req.request.request, resp.headers, req.vary);
        (
            key::variant(&req.primary, &meta.variant),
            Some((req.primary, names)),
        )
    };
    let share = match decision::decide(
        resp.response_time,
        &RequestDirectives::default(),
        &meta,
        policy,
    ) {
        Decision::Fresh { .. } => Share::Waiters,
        Decision::Stale { .. } => Share::Alone(RevalidateReason::Stale),
        Decision::Revalidate { reason, .. } => Share::Alone(reason),
    };
    let ttl = decision::Freshness::of(&meta, resp.response_time, policy).ttl();
    Admission::Store(Box::new(Admitted {
        meta,
        key: store_key,
        vary_index,
        ttl,
        share,
    }))
}

/// May a client that waited on a fetch be given its stored response at
/// `now`? Only when its own request selects the same variant (§4.1) and
/// would reuse the stored response without validation (§4).
pub fn waiter_may_use(
    now: SystemTime,
    request: &HeaderMap,
    directives: &RequestDirectives,
    stored: &CachedResponse,
    policy: &Policy,
    rules: &VaryRules,
) -> Option<Decision> {
    if !stored.variant.is_empty() && !vary::matches(&stored.variant, request, rules) {
        return None;
    }
    match decision::decide(now, directives, stored, policy) {
        d @ Decision::Fresh { .. } => Some(d),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
