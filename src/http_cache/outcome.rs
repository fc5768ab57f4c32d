//! What became of a request, as metrics and logs count it: one of a few
//! outcomes with a reason, read off this cache's Cache-Status member
//! (RFC 9211).

use super::cache_status::{CacheStatus, Fwd};

/// How a response was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Served from the cache, fresh.
    Hit,
    /// Served from the cache, stale (stale-while-revalidate, stale-if-error, max-stale).
    Stale,
    /// A stored response was validated with the origin (RFC 9111 §4.3).
    Revalidated,
    /// Fetched from the origin for want of a usable stored response.
    Miss,
    /// Passed to the origin without looking in the cache, or not cacheable.
    Pass,
    /// Answered by the node with an error (origin unreachable, refused request).
    Error,
}

impl Outcome {
    /// `hit`, `stale`, `revalidated`, `miss`, `pass` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Stale => "stale",
            Outcome::Revalidated => "revalidated",
            Outcome::Miss => "miss",
            Outcome::Pass => "pass",
            Outcome::Error => "error",
        }
    }
}

/// The outcome of a response carrying `cs`, and its reason: the
/// Cache-Status `detail` when there is one, else its `fwd` token, else
/// `fresh`. `generated`: the node answered itself (an error page).
pub fn classify(cs: &CacheStatus, generated: bool) -> (Outcome, &'static str) {
    let reason =
        cs.detail
            .or(cs.fwd.map(Fwd::as_str))
            .unwrap_or(if cs.hit { "fresh" } else { "none" });
    let outcome = match (cs.hit, cs.fwd) {
        _ if generated => Outcome::Error,
        (true, _) if cs.detail.is_some() => Outcome::Stale,
        (true, _) => Outcome::Hit,
        (false, Some(Fwd::Stale)) => Outcome::Revalidated,
        (false, Some(Fwd::UriMiss | Fwd::VaryMiss | Fwd::Miss | Fwd::Partial)) => Outcome::Miss,
        (false, _) => Outcome::Pass,
    };
    (outcome, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(hit: bool, fwd: Option<Fwd>, detail: Option<&'static str>) -> CacheStatus {
        CacheStatus {
            hit,
            fwd,
            detail,
            ..Default::default()
        }
    }

    /// RFC 9211 §2.1 (hit), §2.2 (fwd), §2.8 (detail).
    #[test]
    fn cache_status_members_classify() {
        let table = [
            (cs(true, None, None), false, Outcome::Hit, "fresh"),
            (
                cs(true, None, Some("stale-while-revalidate")),
                false,
                Outcome::Stale,
                "stale-while-revalidate",
            ),
            (
                cs(false, Some(Fwd::Stale), None),
                false,
                Outcome::Revalidated,
                "stale",
            ),
            (
                cs(false, Some(Fwd::UriMiss), None),
                false,
                Outcome::Miss,
                "uri-miss",
            ),
            (
                cs(false, Some(Fwd::VaryMiss), None),
                false,
                Outcome::Miss,
                "vary-miss",
            ),
            (
                cs(false, Some(Fwd::Partial), None),
                false,
                Outcome::Miss,
                "partial",
            ),
            (
                cs(false, Some(Fwd::Method), None),
                false,
                Outcome::Pass,
                "method",
            ),
            (
                cs(false, Some(Fwd::Request), None),
                false,
                Outcome::Pass,
                "request",
            ),
            (
                cs(false, Some(Fwd::Bypass), None),
                false,
                Outcome::Pass,
                "bypass",
            ),
            (
                cs(false, Some(Fwd::UriMiss), Some("origin-unreachable")),
                true,
                Outcome::Error,
                "origin-unreachable",
            ),
            (cs(false, None, None), true, Outcome::Error, "none"),
        ];
        for (status, generated, outcome, reason) in table {
            assert_eq!(
                classify(&status, generated),
                (outcome, reason),
                "{status:?}"
            );
        }
    }
}
