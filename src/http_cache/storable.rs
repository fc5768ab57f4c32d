//! May a response be stored? (RFC 9111 §3, with §3.5 for Authorization.)

use super::cache_control::FieldScope;
use super::cached_response::Effective;
use super::freshness::heuristically_cacheable;
use super::policy::SetCookie;
use super::vary::{self, Vary};
use http::{HeaderMap, Method, StatusCode};

/// Why a response was not stored; `as_str()` feeds logs and Cache-Status `detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoCacheReason {
    /// The request method is not one whose responses we store (§3: GET only).
    Method,
    /// The status code is not final or not one this cache stores (§3).
    Status,
    /// The response carries `no-store` (§5.2.2.5).
    ResponseNoStore,
    /// The request carries `no-store` (§5.2.1.5).
    RequestNoStore,
    /// The response carries unqualified `private` (§5.2.2.7).
    Private,
    /// The request had Authorization and the response does not allow sharing (§3.5).
    Authorization,
    /// Neither explicit freshness, `public`, nor a heuristically cacheable status (§3).
    NoFreshnessInfo,
    /// `Vary: *` can never be matched (§4.1).
    VaryAny,
    /// The body is larger than the store accepts.
    TooLarge,
    /// The body ended early or did not match its Content-Length.
    Incomplete,
    /// It sets a cookie, and the site's `set_cookie` policy is `pass`.
    SetCookie,
    /// The request carried a body (a GET or HEAD with content): its
    /// response may depend on bytes the key does not cover.
    RequestBody,
}

impl NoCacheReason {
    /// A stable token for logs and Cache-Status `detail`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoCacheReason::Method => "method",
            NoCacheReason::Status => "status",
            NoCacheReason::ResponseNoStore => "no-store",
            NoCacheReason::RequestNoStore => "request-no-store",
            NoCacheReason::Private => "private",
            NoCacheReason::Authorization => "authorization",
            NoCacheReason::NoFreshnessInfo => "no-freshness-info",
            NoCacheReason::VaryAny => "vary-star",
            NoCacheReason::TooLarge => "too-large",
            NoCacheReason::Incomplete => "incomplete",
            NoCacheReason::SetCookie => "set-cookie",
            NoCacheReason::RequestBody => "request-body",
        }
    }
}

/// The outcome of the §3 rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storable {
    /// Store it, without the fields listed (qualified `private` and
    /// `no-cache` fields are not stored, §5.2.2.4, §5.2.2.7).
    Yes {
        /// Field names (lower-case) to drop from the stored copy.
        strip: Vec<String>,
    },
    /// Do not store it.
    No(NoCacheReason),
}

/// A 206 with one byte range of known complete length, whose Content-Length
/// (when given) matches that range: anything else could not be sliced safely.
fn single_consistent_range(response: &HeaderMap) -> bool {
    let Some((first, last, _)) = response
        .get(http::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(super::range::parse_content_range)
    else {
        return false;
    };
    match response
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
    {
        Some(len) => len.trim().parse::<u64>().ok() == Some(last - first + 1),
        None => true,
    }
}

/// Status codes whose semantics this cache implements (§3 "understands").
fn understood(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203
            | 204
            | 206
            | 300
            | 301
            | 302
            | 303
            | 307
            | 308
            | 404
            | 405
            | 410
            | 414
            | 451
            | 501
    )
}

/// The request side of a storage decision.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request's header fields.
    pub request: &'a HeaderMap,
    /// The request said `no-store` (§5.2.1.5).
    pub request_no_store: bool,
    /// For POST: the response's Content-Location is the target URI
    /// (RFC 9110 §9.3.3), so a later GET may reuse it.
    pub content_location_is_target: bool,
    /// What to do with a response that sets a cookie.
    pub set_cookie: SetCookie,
}

/// The fields that set cookies. `Set-Cookie2` (RFC 2965) is not one of
/// them: RFC 6265 §9.4 obsoleted it and no user agent acts on it, so it is
/// stored like any other field (cache-tests `headers-store-Set-Cookie2`).
pub const SET_COOKIE_FIELDS: [&str; 1] = ["set-cookie"];

/// Apply RFC 9111 §3 for a shared cache.
pub fn storable(
    ex: &RequestFacts<'_>,
    status: StatusCode,
    response: &HeaderMap,
    eff: &Effective,
) -> Storable {
    let cc = &eff.cc;
    let explicit = cc.max_age().is_some()
        || cc.s_maxage().is_some()
        || (!eff.targeted && response.contains_key(http::header::EXPIRES));
    // GET responses; and POST responses with explicit freshness whose
    // Content-Location is the target URI (RFC 9110 §9.3.3).
    let post_ok = *ex.method == Method::POST && ex.content_location_is_target && explicit;
    if *ex.method != Method::GET && !post_ok {
        return Storable::No(NoCacheReason::Method);
    }
    if status.is_informational() || status == StatusCode::NOT_MODIFIED {
        return Storable::No(NoCacheReason::Status);
    }
    // A 206 is stored only as one byte range of a known complete length
    // (RFC 9111 §3.3); multipart and open-ended ones are not.
    if status == StatusCode::PARTIAL_CONTENT && !single_consistent_range(response) {
        return Storable::No(NoCacheReason::Status);
    }
    // must-understand (§5.2.2.3) overrides no-store for understood status codes,
    // and forbids storing the others.
    if cc.must_understand() {
        if !understood(status) {
            return Storable::No(NoCacheReason::Status);
        }
    } else if cc.no_store() {
        return Storable::No(NoCacheReason::ResponseNoStore);
    }
    if ex.request_no_store {
        return Storable::No(NoCacheReason::RequestNoStore);
    }
    let mut strip = Vec::new();
    match cc.private() {
        Some(FieldScope::All) => return Storable::No(NoCacheReason::Private),
        Some(FieldScope::Fields(f)) => strip.extend(f),
        None => {}
    }
    if let Some(FieldScope::Fields(f)) = cc.no_cache() {
        // Stored, but these fields are not reused without revalidation: drop them.
        strip.extend(f);
    }
    if ex.request.contains_key(http::header::AUTHORIZATION)
        && !(cc.public() || cc.must_revalidate() || cc.s_maxage().is_some())
    {
        return Storable::No(NoCacheReason::Authorization);
    }
    if SET_COOKIE_FIELDS.iter().any(|f| response.contains_key(*f)) {
        match ex.set_cookie {
            SetCookie::Pass => return Storable::No(NoCacheReason::SetCookie),
            SetCookie::Strip => strip.extend(SET_COOKIE_FIELDS.map(String::from)),
            SetCookie::Rfc9111 => {}
        }
    }
    if vary::parse(response) == Vary::Any {
        return Storable::No(NoCacheReason::VaryAny);
    }
    if explicit || cc.public() || heuristically_cacheable(status) {
        Storable::Yes { strip }
    } else {
        Storable::No(NoCacheReason::NoFreshnessInfo)
    }
}

#[cfg(test)]
mod tests;
