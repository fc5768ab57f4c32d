//! The exchange: one client request as the pipeline sees it, built once in
//! [`super::handle`] and borrowed by every step (lookup, miss, revalidation,
//! forwarding), so no step recomputes the target, the site, the request
//! directives or the primary key.

use super::Node;
use super::normalize::{Site, Target};
use crate::http_cache::decision::RequestDirectives;
use crate::http_cache::key;
use http::request::Parts;
use http::{HeaderMap, Method, header};
use std::net::SocketAddr;
use std::sync::Arc;
use storage::ObjectKey;

/// One client request and everything derived from it.
pub struct Exchange {
    /// The node serving it.
    pub node: Arc<Node>,
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
        node: Arc<Node>,
        parts: Parts,
        target: Target,
        site: Site,
        client: SocketAddr,
    ) -> Exchange {
        let directives =
            RequestDirectives::from_headers(&parts.headers, site.honor_request_directives);
        let primary = key::primary(target.scheme, &target.authority, &target.path_and_query);
        Exchange {
            node,
            parts,
            target,
            site,
            client,
            directives,
            primary,
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
            node: self.node.clone(),
            parts,
            target: self.target.clone(),
            site: self.site.clone(),
            client: self.client,
            directives: RequestDirectives::default(),
            primary: self.primary,
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
