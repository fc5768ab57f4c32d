//! May a stored response be reused for this request? (RFC 9111 §4, §4.2.4,
//! §5.2.1 request directives, RFC 5861 stale-while-revalidate/stale-if-error.)

use super::cache_control::{CacheControl, FieldScope, Seconds};
use super::cached_response::{CachedResponse, Effective};
use super::freshness::{Lifetime, lifetime};
use super::policy::Policy;
use http::HeaderMap;
use std::time::SystemTime;

/// The request's cache directives (§5.2.1), with `Pragma: no-cache` standing
/// in for `Cache-Control: no-cache` when there is no Cache-Control (§5.4).
#[derive(Clone, Debug, Default)]
pub struct RequestDirectives {
    cc: CacheControl,
    pragma_no_cache: bool,
    honored: bool,
}

impl RequestDirectives {
    /// Parse the request's Cache-Control and Pragma. When `honored` is false,
    /// only `no-store` and `only-if-cached` take effect.
    pub fn from_headers(headers: &HeaderMap, honored: bool) -> Self {
        let cc = CacheControl::from_headers(headers, "cache-control");
        let pragma_no_cache = !headers.contains_key(http::header::CACHE_CONTROL)
            && super::field_list::members(headers, http::header::PRAGMA)
                .iter()
                .any(|m| m.eq_ignore_ascii_case("no-cache"));
        RequestDirectives {
            cc,
            pragma_no_cache,
            honored,
        }
    }

    /// `no-store` (§5.2.1.5): always honoured, it only makes us store less.
    pub fn no_store(&self) -> bool {
        self.cc.no_store()
    }
    /// `only-if-cached` (§5.2.1.7).
    pub fn only_if_cached(&self) -> bool {
        self.cc.only_if_cached()
    }
    fn no_cache(&self) -> bool {
        self.honored && (self.cc.no_cache().is_some() || self.pragma_no_cache)
    }
    fn max_age(&self) -> Option<u64> {
        // An invalid request max-age is ignored rather than forcing revalidation.
        self.cc
            .max_age()
            .and_then(Seconds::valid)
            .filter(|_| self.honored)
    }
    fn min_fresh(&self) -> Option<u64> {
        self.cc
            .min_fresh()
            .and_then(Seconds::valid)
            .filter(|_| self.honored)
    }
    fn max_stale(&self) -> Option<Option<u64>> {
        if !self.honored {
            return None;
        }
        self.cc.max_stale().map(|v| v.and_then(Seconds::valid))
    }
    /// Request `stale-if-error` (RFC 5861 §4).
    pub fn stale_if_error(&self) -> Option<u64> {
        self.cc.stale_if_error().filter(|_| self.honored)
    }
}

/// Why a stored response must be revalidated before reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevalidateReason {
    /// It is stale (§4.2).
    Stale,
    /// The response said `no-cache` (§5.2.2.4).
    ResponseNoCache,
    /// The request said `no-cache` or `Pragma: no-cache` (§5.2.1.4, §5.4).
    RequestNoCache,
    /// Older than the request's `max-age` (§5.2.1.1).
    RequestMaxAge,
    /// Not fresh for the request's `min-fresh` (§5.2.1.3).
    RequestMinFresh,
    /// A soft purge made it stale.
    Purged,
}

impl RevalidateReason {
    /// A stable token for logs and Cache-Status `detail`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevalidateReason::Stale => "stale",
            RevalidateReason::ResponseNoCache => "response-no-cache",
            RevalidateReason::RequestNoCache => "request-no-cache",
            RevalidateReason::RequestMaxAge => "request-max-age",
            RevalidateReason::RequestMinFresh => "request-min-fresh",
            RevalidateReason::Purged => "soft-purged",
        }
    }
}

/// Why a stale response may be served without revalidating first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleServe {
    /// The request's `max-stale` allows it (§5.2.1.2).
    MaxStale,
    /// The response's `stale-while-revalidate` allows it; refresh in the background.
    WhileRevalidate,
}

/// The §4 decision for a stored response that matches the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Fresh: serve it.
    Fresh {
        /// Current age in seconds.
        age: u64,
        /// Remaining freshness in seconds.
        ttl: i64,
    },
    /// Stale, but may be served as it is.
    Stale {
        /// Current age in seconds.
        age: u64,
        /// Remaining freshness (negative).
        ttl: i64,
        /// What allows it.
        serve: StaleServe,
    },
    /// Must be validated with the origin first.
    Revalidate {
        /// Current age in seconds.
        age: u64,
        /// Remaining freshness.
        ttl: i64,
        /// Why.
        reason: RevalidateReason,
    },
}

/// What a stored response's own fields say about its reuse, for one
/// policy: the cache-control in force and the freshness lifetime. They do not
/// depend on the time, so a node computes them once per stored response.
#[derive(Clone, Debug)]
pub struct Facts {
    /// The cache-control in force for this cache (targeted field or Cache-Control).
    pub eff: Effective,
    /// Freshness lifetime (§4.2.1).
    pub lifetime: Lifetime,
}

impl Facts {
    /// Compute for `entry` under `policy`.
    pub fn of(entry: &CachedResponse, policy: &Policy) -> Self {
        let eff = entry.effective(policy);
        let lifetime = lifetime(
            entry.status,
            &entry.headers,
            &eff,
            entry.response_time,
            policy,
        );
        Facts { eff, lifetime }
    }
}

/// Facts about a stored response's freshness at `now`.
#[derive(Clone, Copy, Debug)]
pub struct Freshness {
    /// Current age (§4.2.3).
    pub age: u64,
    /// Freshness lifetime (§4.2.1).
    pub lifetime: Lifetime,
}

impl Freshness {
    /// Compute at `now`.
    pub fn of(entry: &CachedResponse, now: SystemTime, policy: &Policy) -> Self {
        Freshness::with(entry, now, &Facts::of(entry, policy))
    }
    /// Compute at `now` from precomputed [`Facts`].
    pub fn with(entry: &CachedResponse, now: SystemTime, facts: &Facts) -> Self {
        Freshness {
            age: entry.current_age(now),
            lifetime: facts.lifetime,
        }
    }
    /// Remaining freshness in seconds; negative when stale.
    pub fn ttl(&self) -> i64 {
        self.lifetime.secs() as i64 - self.age as i64
    }
}

/// Decide whether `entry` may be reused for a request with directives `req` (§4).
pub fn decide(
    now: SystemTime,
    req: &RequestDirectives,
    entry: &CachedResponse,
    policy: &Policy,
) -> Decision {
    decide_with(now, req, entry, &Facts::of(entry, policy))
}

/// [`decide`] from precomputed [`Facts`] (the hit path's form).
pub fn decide_with(
    now: SystemTime,
    req: &RequestDirectives,
    entry: &CachedResponse,
    facts: &Facts,
) -> Decision {
    let f = Freshness::with(entry, now, facts);
    let (age, ttl) = (f.age, f.ttl());
    let cc = &facts.eff.cc;
    let revalidate = |reason| Decision::Revalidate { age, ttl, reason };
    if matches!(cc.no_cache(), Some(FieldScope::All)) {
        return revalidate(RevalidateReason::ResponseNoCache);
    }
    if req.no_cache() {
        return revalidate(RevalidateReason::RequestNoCache);
    }
    if req.max_age().is_some_and(|m| age > m) {
        return revalidate(RevalidateReason::RequestMaxAge);
    }
    if req.min_fresh().is_some_and(|m| ttl < m as i64) {
        return revalidate(RevalidateReason::RequestMinFresh);
    }
    if ttl > 0 {
        return Decision::Fresh { age, ttl };
    }
    // Stale (§4.2.4). These directives forbid serving it without validation.
    if cc.must_revalidate() || cc.proxy_revalidate() || cc.s_maxage().is_some() {
        return revalidate(RevalidateReason::Stale);
    }
    let staleness = ttl.unsigned_abs();
    match req.max_stale() {
        Some(None) => {
            return Decision::Stale {
                age,
                ttl,
                serve: StaleServe::MaxStale,
            };
        }
        Some(Some(m)) if staleness <= m => {
            return Decision::Stale {
                age,
                ttl,
                serve: StaleServe::MaxStale,
            };
        }
        _ => {}
    }
    if cc.stale_while_revalidate().is_some_and(|w| staleness <= w) {
        return Decision::Stale {
            age,
            ttl,
            serve: StaleServe::WhileRevalidate,
        };
    }
    revalidate(RevalidateReason::Stale)
}

/// A soft purge makes a stored response stale at once: never served as
/// fresh, but still under stale-while-revalidate (and stale-if-error while
/// it is revalidated), unless its directives forbid serving it stale.
pub fn soft_purged(d: Decision, entry: &CachedResponse, policy: &Policy) -> Decision {
    let Decision::Fresh { age, .. } = d else {
        return d;
    };
    let cc = entry.effective(policy).cc;
    let stale_forbidden = cc.must_revalidate() || cc.proxy_revalidate() || cc.s_maxage().is_some();
    if !stale_forbidden && cc.stale_while_revalidate().is_some() {
        Decision::Stale {
            age,
            ttl: 0,
            serve: StaleServe::WhileRevalidate,
        }
    } else {
        Decision::Revalidate {
            age,
            ttl: 0,
            reason: RevalidateReason::Purged,
        }
    }
}

/// May a stale `entry` be served because the origin failed? (RFC 5861 §4,
/// plus the operator's `serve_stale_on_error_secs` window when the response
/// has no directive.) Never when revalidation is mandatory (§4.2.4).
pub fn stale_if_error(
    now: SystemTime,
    req: &RequestDirectives,
    entry: &CachedResponse,
    policy: &Policy,
    default_window_secs: u64,
) -> bool {
    let f = Freshness::of(entry, now, policy);
    let cc = entry.effective(policy).cc;
    if cc.must_revalidate()
        || cc.proxy_revalidate()
        || cc.s_maxage().is_some()
        || cc.no_cache().is_some()
    {
        return false;
    }
    let staleness = (-f.ttl()).max(0) as u64;
    // A default window of 0 turns the operator's fallback off entirely.
    let fallback = (default_window_secs > 0).then_some(default_window_secs);
    req.stale_if_error()
        .or(cc.stale_if_error())
        .or(fallback)
        .is_some_and(|window| staleness <= window)
}

#[cfg(test)]
mod tests;
