//! The request pipeline: one straight-line async function that sequences
//! named steps. Each step lives in its own file.

pub mod collapse;
pub mod exchange;
pub mod fetch;
pub mod fill;
pub mod follow;
pub mod forwarding;
pub mod grpc;
pub mod keyed_locks;
pub mod lookup;
pub mod origin_purge;
pub mod origin_send;
mod pipeline;
pub mod purge_method;
pub mod representations;
pub mod respond;
pub mod revalidate;
pub mod served;
pub mod sites;
pub mod tier;
pub mod tunnel;
pub mod unsafe_method;
pub mod variants;

use crate::body::Body;
use crate::clock;
use crate::error::ProxyError;
use crate::http_cache::cache_status::{CacheStatus, Fwd};
use crate::http_cache::decision::{self, Decision, StaleServe};
use crate::http_cache::storable::NoCacheReason;
use crate::http_cache::{key, range, vary};
use crate::target::Scheme;
use collapse::Join;
use exchange::Exchange;
use http::{Method, Request, Response, StatusCode};
use lookup::Lookup;
pub use pipeline::Pipeline;
use representations::encodings::{self, Choice};
use representations::{range_fill, slices};
use std::net::SocketAddr;
use std::sync::Arc;
use storage::Purged;

/// Handle one request from `client`, received on a listener of `scheme`
/// (which the front end knows; the client's own `:scheme` is not trusted).
///
/// Every step but the lookup is awaited boxed: a hit awaits only the
/// lookup, so this future (which hyper keeps a slot for on every HTTP/1.1
/// connection) has the size of the hit path's state, not the miss path's.
pub async fn handle(
    pipeline: Arc<Pipeline>,
    req: Request<Body>,
    client: SocketAddr,
    scheme: Scheme,
) -> Response<Body> {
    let (parts, body) = req.into_parts();

    // 0. Tiered caching: a peer's request (keyed by its client's scheme),
    //    or a loop (508, never forwarded)?
    let mut arrival = tier::Arrival::default();
    let mut scheme = scheme;
    if let Some(t) = &pipeline.tier {
        arrival = t.arrival(&parts.headers, client.ip());
        if t.refuses(arrival) {
            pipeline
                .services
                .metrics
                .tier
                .count(tier::TierOutcome::LoopRefused);
            return loop_detected(&pipeline);
        }
        if arrival.from_peer {
            scheme = tier::peer_scheme(&parts.headers, scheme);
        }
    }

    // 1. Where is it aimed, and which origin serves it?
    let target = match crate::target::target(&parts.uri, &parts.headers, parts.version, scheme) {
        Ok(t) => t,
        Err(ProxyError::Downstream(msg)) => {
            return respond::error(
                &pipeline,
                StatusCode::BAD_REQUEST,
                &msg,
                CacheStatus::default(),
            );
        }
        Err(ProxyError::Upstream(e)) => {
            return respond::upstream_error(&pipeline, &e, CacheStatus::default());
        }
    };
    let site = match pipeline.sites.site_for(&target.host) {
        Ok(s) => s.clone(),
        Err(e) => {
            let cs = CacheStatus {
                fwd: Some(Fwd::Bypass),
                ..Default::default()
            };
            return respond::upstream_error(&pipeline, &e, cs);
        }
    };

    // 2. `PURGE <url>` from an allowed network, when turned on.
    if parts.method.as_str() == "PURGE" {
        return Box::pin(purge_method::handle(&pipeline, &parts, &target, client)).await;
    }
    let mut ex = Exchange::new(pipeline, parts, target, site, client);
    ex.arrival = arrival;
    let mut resp = serve(&ex, body).await;
    if !ex.arrival.from_peer {
        respond::strip_downstream(&ex.pipeline, resp.headers_mut());
    }
    if let Some(s) = resp.extensions_mut().get_mut::<served::Served>() {
        s.site = Some(ex.site.metrics.clone());
        s.log = Some(ex.site.log);
        s.origin_first_byte = ex.origin_first_byte();
    }
    resp
}

/// Serve a request routed to its site: every step after routing.
async fn serve(ex: &Exchange, body: Body) -> Response<Body> {
    let pipeline = &ex.pipeline;

    // WebSocket (an HTTP/1.1 Upgrade, an HTTP/2 extended CONNECT) becomes a
    // byte tunnel to the origin: never cached, collapsed nor purged.
    if let Some(ask) = tunnel::asks(&ex.parts) {
        return Box::pin(tunnel::open(ex, ask)).await;
    }

    // 3. Unsafe and other non-cacheable methods go straight through (§4.4
    //    invalidation); so does a GET or HEAD with a body, never stored nor
    //    served from the cache.
    if ex.parts.method != Method::GET && ex.parts.method != Method::HEAD {
        return Box::pin(unsafe_method::forward(ex, body)).await;
    }
    if ex.has_body() {
        return Box::pin(fetch::pass(ex, body, NoCacheReason::RequestBody)).await;
    }

    // 4. Look the request up. Hit-for-pass: nothing storable came for this
    //    URL lately, so nothing is stored for it (a storable response clears
    //    the mark).
    let now = clock::now();
    let found = if pipeline.collapser.passing(&ex.primary, clock::instant()) {
        Lookup::UriMiss
    } else {
        lookup::find(pipeline, ex.primary, &ex.parts.headers, &ex.site.vary.rules).await
    };
    let mut vary_names = Vec::new();
    let purge = match &found {
        Lookup::Hit(entry) => purged(pipeline, ex, entry),
        _ => Purged::No,
    };
    let fwd = match found {
        // A stored partial response only answers ranges inside what it holds.
        Lookup::Hit(entry)
            if !range::covers(
                &ex.parts.method,
                &ex.parts.headers,
                &entry.meta,
                entry.body.len(),
            ) =>
        {
            Fwd::Partial
        }
        // A hard purge since it was fetched makes it a miss (and frees it).
        Lookup::Hit(entry) if purge == Purged::Hard => {
            pipeline.services.store.remove(&entry.key);
            encodings::remove_forms(ex, &entry);
            Fwd::Miss
        }
        Lookup::Hit(entry) => {
            // 5. Reuse it, serve it stale, or revalidate it (§4); a soft purge makes it stale.
            let cs_key = pipeline.cfg.cache.expose_key.then(|| entry.key.to_hex());
            let mut decision =
                decision::decide_with(now, &ex.directives, &entry.meta, &entry.facts);
            if purge == Purged::Soft {
                decision = decision::soft_purged(decision, &entry.meta, &pipeline.policy);
            }
            let (age, ttl, detail) = match decision {
                Decision::Fresh { age, ttl } => (age, ttl, None),
                Decision::Stale { age, ttl, serve } => {
                    let detail = match serve {
                        StaleServe::MaxStale => "max-stale",
                        StaleServe::WhileRevalidate => {
                            revalidate::in_background(ex, (*entry).clone());
                            "stale-while-revalidate"
                        }
                    };
                    (age, ttl, Some(detail))
                }
                Decision::Revalidate { reason, .. } => {
                    if ex.directives.only_if_cached() {
                        return only_if_cached_miss(pipeline);
                    }
                    return Box::pin(revalidate::foreground(ex, *entry, reason)).await;
                }
            };
            let cs = CacheStatus {
                hit: true,
                ttl: Some(ttl),
                key: cs_key,
                detail,
                ..Default::default()
            };
            // 6. In the form the client prefers (one stored copy, every encoding).
            let len = encodings::inline_len(&entry.body);
            return match encodings::choose(ex, &entry.meta, len) {
                Choice::Untouched => {
                    let (method, headers) = (&ex.parts.method, &ex.parts.headers);
                    respond::cached_owned(pipeline, *entry, method, headers, age, cs)
                }
                Choice::Stored => encodings::serve_stored(ex, *entry, age, cs),
                Choice::Transform(to) => {
                    Box::pin(encodings::serve_transformed(ex, *entry, to, age, cs)).await
                }
            };
        }
        Lookup::UriMiss => Fwd::UriMiss,
        Lookup::VaryMiss(names) => {
            vary_names = names;
            Fwd::VaryMiss
        }
    };

    // 7. Miss: fetch from the origin, storing while streaming. A range of
    //    an object known to be too large to fetch whole is served from slices.
    if ex.directives.only_if_cached() {
        return only_if_cached_miss(pipeline);
    }
    if vary_names.is_empty()
        && range_fill::fills(ex)
        && let Some(known) = pipeline.slices.get(&ex.primary, clock::instant())
    {
        let cs = CacheStatus {
            fwd: Some(fwd),
            ..Default::default()
        };
        return Box::pin(slices::serve(ex, known, cs)).await;
    }
    // 8. Collapse concurrent misses for the same variant into one origin request.
    let mut leader = None;
    if follow::collapsible(ex) {
        let key = if vary_names.is_empty() {
            ex.primary
        } else {
            let rules = &ex.site.vary.rules;
            key::variant(
                &ex.primary,
                &vary::selected(&vary_names, &ex.parts.headers, rules),
            )
        };
        match pipeline.collapser.join(key, clock::instant()) {
            Join::Lead(l) => leader = Some(l),
            Join::Follow(flight) => {
                if let Some(resp) = Box::pin(follow::follow(ex, &flight, fwd)).await {
                    return resp;
                }
            }
            Join::Alone => {}
        }
    }
    Box::pin(fetch::miss(ex, body, fwd, leader)).await
}

/// Has `entry` been purged since it was fetched? Purges are scoped by host.
///
/// A fleet node treats every object as soft-purged (revalidated before use)
/// while it has not yet read the purges it missed while away
/// (`fleet.catch_up`), and for a peer that has read further along the purge
/// stream than this node (tiered caching): that peer may have applied a
/// purge this node has not.
fn purged(pipeline: &Pipeline, ex: &Exchange, entry: &lookup::Entry) -> Purged {
    let target = &ex.target;
    let p = pipeline.services.purge.check(
        &target.host,
        &target.path_and_query,
        &entry.meta.surrogate_keys,
        entry.meta.purge_seq,
    );
    match (p, &pipeline.services.fleet) {
        (Purged::No, Some(f)) if f.revalidate_all() || ex.arrival.fleet_seq > f.position() => {
            Purged::Soft
        }
        _ => p,
    }
}

/// RFC 8586 §3: our id is in CDN-Loop more often than `tier.loop_limit`.
fn loop_detected(pipeline: &Pipeline) -> Response<Body> {
    let cs = CacheStatus {
        detail: Some("loop-detected"),
        ..Default::default()
    };
    respond::error(
        pipeline,
        StatusCode::LOOP_DETECTED,
        "this request has looped through the fleet (CDN-Loop)",
        cs,
    )
}

/// §5.2.1.7: only-if-cached with nothing usable stored is a 504.
fn only_if_cached_miss(pipeline: &Pipeline) -> Response<Body> {
    let cs = CacheStatus {
        fwd: Some(Fwd::Request),
        detail: Some("only-if-cached"),
        ..Default::default()
    };
    respond::error(
        pipeline,
        StatusCode::GATEWAY_TIMEOUT,
        "only-if-cached and no usable stored response",
        cs,
    )
}
