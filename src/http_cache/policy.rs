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
