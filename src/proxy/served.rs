//! How the pipeline produced a response, handed to the front end (which
//! counts and logs it once the body is sent) as a response extension.

use crate::http_cache::cache_status::CacheStatus;
use crate::http_cache::outcome::{self, Outcome};
use crate::metrics::{SiteMetrics, Source};
use std::sync::Arc;
use std::time::Duration;

/// A response's origin story.
#[derive(Clone, Debug)]
pub struct Served {
    /// Hit, miss, pass...
    pub outcome: Outcome,
    /// Why: the Cache-Status detail or fwd token.
    pub reason: &'static str,
    /// Where the body comes from.
    pub source: Source,
    /// The site that served it (none: the request matched no site).
    pub site: Option<Arc<SiteMetrics>>,
    /// Origin latency to the response head, when the origin was asked.
    pub origin_first_byte: Option<Duration>,
    /// The site's access-log rule.
    pub log: Option<super::sites::LogRule>,
}

impl Served {
    /// Read off this cache's Cache-Status member.
    pub fn new(cs: &CacheStatus, source: Source) -> Served {
        let (outcome, reason) = outcome::classify(cs, source == Source::Generated);
        Served {
            outcome,
            reason,
            source,
            site: None,
            origin_first_byte: None,
            log: None,
        }
    }
}

/// Mark `resp` as served from `source` (re-classifying for generated
/// responses).
pub fn set_source<B>(resp: &mut http::Response<B>, source: Source) {
    if let Some(s) = resp.extensions_mut().get_mut::<Served>() {
        s.source = source;
        if source == Source::Generated {
            s.outcome = Outcome::Error;
        }
    }
}
