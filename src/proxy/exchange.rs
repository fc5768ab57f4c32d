//! The exchange: one client request as the pipeline sees it, built once in
//! [`super::handle`] and borrowed by every step (lookup, miss, revalidation,
//! forwarding), so no step recomputes the target, the site, the request
//! directives or the primary key.

use super::Pipeline;
use super::sites::Site;
use crate::http_cache::decision::RequestDirectives;
use crate::http_cache::key;
use crate::target::Target;
use http::request::Parts;
use http::{HeaderMap, Method, header};
use std::net::SocketAddr;
use std::sync::Arc;
use storage::ObjectKey;

/// One client request and everything derived from it.
pub struct Exchange {
    /// The pipeline serving it.
    pub pipeline: Arc<Pipeline>,
    /// The request head.
    pub parts: Parts,
    /// Where it is aimed.
    pub target: Target,
    /// The site (origin and per-site rules) serving the target's host.
    pub site: Site,
    /// The client's address.
    pub client: SocketAddr,
    /// The request's cache directives (§5.2.1), as the site honours them.
    pub directives: RequestDirectives,
    /// The primary cache key (§2).
    pub primary: ObjectKey,
    /// The client's Accept-Encoding (all lines joined), moved out of
    /// `parts` when the site negotiates codings itself (the origin is sent
    /// the site's own); `None` when absent or not negotiated.
    pub accept_encoding: Option<String>,
    /// Where it came from, as tiered caching sees it (CDN-Loop, a peer).
    pub arrival: super::tier::Arrival,
    /// Microseconds the origin took to its response head, plus one (0:
    /// the origin was not asked). For the access log.
    origin_micros: std::sync::atomic::AtomicU64,
}

/// Request fields that carry credentials: a request the node makes on
/// nobody's behalf (a background refresh) never sends them.
pub const CREDENTIAL_FIELDS: [header::HeaderName; 3] = [
    header::COOKIE,
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
];

impl Exchange {
    /// Build the exchange for a request aimed at `target` on `site`.
    pub fn new(
        pipeline: Arc<Pipeline>,
        parts: Parts,
        target: Target,
        site: Site,
        client: SocketAddr,
    ) -> Exchange {
        let mut parts = parts;
        let accept_encoding = if parts.method == Method::GET || parts.method == Method::HEAD {
            site.compression.take_client_accept(&mut parts.headers)
        } else {
            None
        };
        let directives =
            RequestDirectives::from_headers(&parts.headers, site.honor_request_directives);
        let primary = key::primary(target.scheme, &target.authority, &target.path_and_query);
        Exchange {
            pipeline,
            parts,
            target,
            site,
            client,
            directives,
            primary,
            accept_encoding,
            arrival: Default::default(),
            origin_micros: Default::default(),
        }
    }

    /// The same target fetched by the node itself, for no client: a plain
    /// GET without the client's credentials, preconditions, range or
    /// request directives (a stale-while-revalidate refresh).
    pub fn background(&self) -> Exchange {
        let mut headers = HeaderMap::with_capacity(self.parts.headers.len());
        for (name, value) in &self.parts.headers {
            if CREDENTIAL_FIELDS.contains(name)
                || crate::http_cache::conditional::PRECONDITION_FIELDS.contains(name)
                || crate::http_cache::conditional::RANGE_FIELDS.contains(name)
                || name == header::CACHE_CONTROL
                || name == header::PRAGMA
            {
                continue;
            }
            headers.append(name.clone(), value.clone());
        }
        let mut req = http::Request::new(());
        *req.method_mut() = Method::GET;
        *req.uri_mut() = self.parts.uri.clone();
        *req.version_mut() = self.parts.version;
        *req.headers_mut() = headers;
        // The refresh's origin exchange joins the request's trace.
        if let Some(ctx) = crate::trace::context::current(&self.parts.extensions) {
            req.extensions_mut().insert(ctx);
        }
        let (parts, ()) = req.into_parts();
        Exchange {
            pipeline: self.pipeline.clone(),
            parts,
            target: self.target.clone(),
            site: self.site.clone(),
            client: self.client,
            directives: RequestDirectives::default(),
            primary: self.primary,
            accept_encoding: None,
            arrival: self.arrival,
            origin_micros: Default::default(),
        }
    }

    /// Note an origin exchange's latency to its response head: in the
    /// site's histogram, and for this request's log line.
    pub fn origin_answered(&self, latency: std::time::Duration) {
        self.site
            .metrics
            .origin_first_byte
            .observe(latency.as_secs_f64());
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX - 1);
        self.origin_micros
            .store(micros + 1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The origin's latency to its response head, when it was asked.
    pub fn origin_first_byte(&self) -> Option<std::time::Duration> {
        match self
            .origin_micros
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => None,
            m => Some(std::time::Duration::from_micros(m - 1)),
        }
    }

    /// Does the request carry content? (A GET or HEAD with a body: the
    /// origin may answer by its bytes, which no cache key covers.)
    pub fn has_body(&self) -> bool {
        let h = &self.parts.headers;
        h.contains_key(header::TRANSFER_ENCODING)
            || h.get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes().iter().any(|b| *b != b'0'))
    }
}
