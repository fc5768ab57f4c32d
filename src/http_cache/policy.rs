//! The knobs of the caching rules, as plain data the node fills from config.

/// How this cache applies RFC 9111. The default is the RFC's behaviour for a
/// shared cache; every deviation is an explicit field.
#[derive(Clone, Debug)]
pub struct Policy {
    /// RFC 9213 targeted fields, highest precedence first (lower-case).
    pub targeted_fields: Vec<String>,
    /// Fraction of (Date - Last-Modified) used as a heuristic lifetime (§4.2.2).
    pub heuristic_fraction: f64,
    /// Upper bound on a heuristic lifetime, in seconds.
    pub heuristic_max_secs: u64,
    /// This cache's device token for targeted Surrogate-Control directives.
    pub surrogate_device: String,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            targeted_fields: vec![
                "edgecache-cdn-cache-control".into(),
                "cdn-cache-control".into(),
                "surrogate-control".into(),
            ],
            surrogate_device: "edgecache".into(),
            heuristic_fraction: 0.1,
            heuristic_max_secs: 86_400,
        }
    }
}

/// What a shared cache does with a response that sets a cookie.
///
/// A `Set-Cookie` is nearly always meant for one user (a session), so the
/// default never replays one to another client: nginx, Varnish and
/// Cloudflare all bypass the cache on Set-Cookie by default as well.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetCookie {
    /// Never store it: it passes to its own client uncached. The default.
    #[default]
    Pass,
    /// Store it without its Set-Cookie fields (the client that caused the
    /// fetch still gets them; later clients get the stored copy without).
    Strip,
    /// Plain RFC 9111 §7.3 (the conformance run's setting): store and replay
    /// it, cookie included, whenever §3 allows. An explicit opt-in.
    Rfc9111,
}

impl SetCookie {
    /// The config spelling, for logs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            SetCookie::Pass => "pass",
            SetCookie::Strip => "strip",
            SetCookie::Rfc9111 => "rfc9111",
        }
    }
}
