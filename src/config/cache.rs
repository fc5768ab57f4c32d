//! `[cache]`: caching rules.

use super::{SetCookie, UserAgentRule, VaryFieldConfig};
use serde::Deserialize;

/// `[cache]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Fraction of (Date - Last-Modified) used as a heuristic lifetime. Default: 0.1.
    pub heuristic_fraction: f64,
    /// Cap on a heuristic lifetime in seconds. Default: 86400.
    pub heuristic_max_secs: u64,
    /// Honour request `Cache-Control`/`Pragma` (no-cache, max-age, min-fresh,
    /// max-stale). Default: true (RFC 9111 behaviour).
    pub honor_request_directives: bool,
    /// RFC 9213 targeted fields, highest precedence first.
    /// `surrogate-control` (W3C Edge Architecture, legacy) is read with its own
    /// syntax and announced upstream with Surrogate-Capability.
    /// Default: `["edgecache-cdn-cache-control", "cdn-cache-control", "surrogate-control"]`.
    pub targeted_fields: Vec<String>,
    /// Remove the targeted fields from responses sent downstream, except
    /// those in `forward_targeted_fields`. Default: true.
    pub strip_targeted_fields: bool,
    /// Targeted fields sent downstream even when `strip_targeted_fields` is
    /// on: RFC 9213 §2 addresses `CDN-Cache-Control` to every CDN cache in a
    /// chain, so a CDN tier behind this node needs it too; a CDN-specific
    /// field (`edgecache-cdn-cache-control`) and the legacy
    /// `surrogate-control` (addressed to the surrogate that consumes it)
    /// stop here. Default: `["cdn-cache-control"]`.
    pub forward_targeted_fields: Vec<String>,
    /// Seconds past its lifetime a stale response may be served when the
    /// origin cannot be reached (connect error, reset, timeout) and the
    /// response has no stale-if-error (RFC 9111 §4.2.4). Default: 3600.
    pub serve_stale_on_origin_down_secs: u64,
    /// Expose the cache key in Cache-Status. Default: false.
    pub expose_key: bool,
    /// Responses carrying Set-Cookie: `pass` never stores them (they go to
    /// their own client uncached); `strip` stores them without their
    /// Set-Cookie fields; `rfc9111` applies plain RFC 9111 §7.3 and replays
    /// the cookie to every client (an explicit opt-in; the conformance run
    /// uses it). Default: `pass`.
    pub set_cookie: SetCookie,
    /// How long a collapsed request waits for the response head of the
    /// request fetching the same object, in milliseconds; it then goes to the
    /// origin itself. Default: 10000.
    pub collapse_timeout_ms: u64,
    /// After a response turns out not to be storable, requests for that key
    /// skip collapsing for this many seconds (hit-for-pass). Default: 30.
    pub hit_for_pass_secs: u64,
    /// Languages `Vary: Accept-Language` is keyed on: a request keys as its
    /// best match in this list (RFC 9110 §12.5.4 q-values), or one default
    /// bucket. Empty: a stored variant whose `Content-Language` is the
    /// request's most preferred language matches it (docs/vary.md).
    /// Default: `[]`.
    pub vary_languages: Vec<String>,
    /// `Vary: User-Agent`: `bucket` keys on mobile / desktop (`Mobi` in the
    /// User-Agent), `ignore` keys every request alike. Never the raw string.
    /// Default: `bucket`.
    pub vary_user_agent: UserAgentRule,
    /// Declared normalisation of other fields a Vary may name (allowed
    /// values, lower-casing). Default: `[]`.
    pub vary_fields: Vec<VaryFieldConfig>,
    /// Most variants stored per URL; storing one more evicts the oldest
    /// (counted in `edgecache_vary_variants_evicted_total`). Default: 32.
    pub max_variants_per_url: usize,
    /// A response field by which the site's own origin purges surrogate
    /// keys (space- or comma-separated), e.g. `Edgecache-Purge-Keys`;
    /// removed from the response before it goes downstream. Default: none
    /// (off: the field is an ordinary header, passed through).
    pub origin_purge_header: Option<String>,
    /// Most keys honoured from one response; the rest are dropped and
    /// counted. Default: 32.
    pub origin_purge_max_keys: usize,
    /// Longest key honoured from a response, in bytes; longer keys are
    /// dropped and counted. Default: 256.
    pub origin_purge_max_key_bytes: usize,
    /// A GET with Range that misses fetches the whole object (no Range to
    /// the origin), stores it, and streams the asked range to the client as
    /// its bytes arrive, so later ranges are hits. Off: the Range is
    /// forwarded as the client sent it. Default: true.
    pub range_fill: bool,
    /// Size of the slices a large object is fetched in for Range requests,
    /// in bytes; 0 turns slicing off. At most `storage.chunk_bytes`.
    /// Default: 1048576 (1 MiB).
    pub slice_bytes: u64,
    /// Objects longer than this (bytes) are fetched in slices for Range
    /// requests instead of whole. Default: 16777216 (16 MiB).
    pub slice_above_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            heuristic_fraction: 0.1,
            heuristic_max_secs: 86_400,
            honor_request_directives: true,
            targeted_fields: vec![
                "edgecache-cdn-cache-control".into(),
                "cdn-cache-control".into(),
                "surrogate-control".into(),
            ],
            strip_targeted_fields: true,
            forward_targeted_fields: vec!["cdn-cache-control".into()],
            serve_stale_on_origin_down_secs: 3600,
            expose_key: false,
            set_cookie: SetCookie::Pass,
            collapse_timeout_ms: 10_000,
            hit_for_pass_secs: 30,
            vary_languages: Vec::new(),
            vary_user_agent: UserAgentRule::Bucket,
            vary_fields: Vec::new(),
            max_variants_per_url: 32,
            origin_purge_header: None,
            origin_purge_max_keys: 32,
            origin_purge_max_key_bytes: 256,
            range_fill: true,
            slice_bytes: 1 << 20,
            slice_above_bytes: 16 << 20,
        }
    }
}
