//! One site's metric handles, made once per site label and kept across
//! config reloads: the request path increments atomics, never looks a
//! label set up.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::Arc;

/// The protocols requests arrive over, as label values.
pub const PROTOCOLS: [&str; 3] = ["http/1.1", "h2", "h3"];
/// Response status classes, as label values.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Where response body bytes came from, as label values.
pub const SOURCES: [&str; 4] = ["memory", "disk", "origin", "generated"];

/// Where a response's body came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The store's memory tier.
    Memory,
    /// The store's disk tier.
    Disk,
    /// The origin (a miss, a pass, a refresh).
    Origin,
    /// The node itself (an error page, a 304 made from a stored response).
    Generated,
}

impl Source {
    /// `memory`, `disk`, `origin` or `generated`.
    pub fn as_str(self) -> &'static str {
        SOURCES[self as usize]
    }
}

/// The protocol a request arrived over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.0 or HTTP/1.1.
    Http1,
    /// HTTP/2.
    H2,
    /// HTTP/3.
    H3,
}

impl Protocol {
    /// Of a request's version.
    pub fn of(v: http::Version) -> Protocol {
        match v {
            http::Version::HTTP_2 => Protocol::H2,
            http::Version::HTTP_3 => Protocol::H3,
            _ => Protocol::Http1,
        }
    }

    /// `http/1.1`, `h2` or `h3` (ALPN tokens).
    pub fn as_str(self) -> &'static str {
        PROTOCOLS[self as usize]
    }
}

/// A site's handles into the node's metric families.
#[derive(Debug)]
pub struct SiteMetrics {
    /// The site's label: its name, else its first host; `default` for the
    /// top-level origin, `-` for requests that matched no site.
    pub label: Arc<str>,
    pub(super) requests: [[Counter; 5]; 3],
    pub(super) bytes: [Counter; 4],
    pub(super) results: super::ResultFamily,
    /// `results{outcome="hit", reason="fresh"}`, the most common pair, held
    /// so that a plain hit does not hash its labels.
    pub(super) hit_fresh: Counter,
    /// Origin response heads: seconds from sending the request.
    pub origin_first_byte: Histogram,
    /// Whole requests as the client saw them: seconds to the last byte.
    pub request_duration: Histogram,
}

impl SiteMetrics {
    /// Count a finished request.
    pub fn request(&self, protocol: Protocol, status: http::StatusCode) {
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.requests[protocol as usize][class].inc();
    }

    /// Count `n` body bytes sent from `source`.
    pub fn bytes(&self, source: Source, n: u64) {
        if n > 0 {
            self.bytes[source as usize].inc_by(n);
        }
    }

    /// Count a cache outcome with its reason.
    pub fn result(&self, outcome: &'static str, reason: &'static str) {
        if outcome == "hit" && reason == "fresh" {
            self.hit_fresh.inc();
            return;
        }
        self.results
            .get_or_create(&super::ResultLabels {
                site: super::SiteName(self.label.clone()),
                outcome,
                reason,
            })
            .inc();
    }
}
