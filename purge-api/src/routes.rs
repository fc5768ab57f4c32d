//! The routes. Each handler authenticates, validates, calls the [`Purger`]
//! and answers `{"id", "status": "ok", ...}`.

use crate::auth::Token;
use crate::{ApiConfig, ApiError, Mode, Purger};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Json;
use axum::routing::post;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Every route the API serves, as (method, path); docs/purge-api.yaml must list the same.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/purge/key/{key}"),
    ("post", "/purge/keys"),
    ("post", "/purge/url"),
    ("post", "/purge/prefix"),
    ("post", "/purge/all"),
];

struct Api {
    purger: Arc<dyn Purger>,
    cfg: ApiConfig,
}

type Shared = State<Arc<Api>>;

/// The purge API router.
pub fn router(purger: Arc<dyn Purger>, cfg: ApiConfig) -> Router {
    let api = Arc::new(Api { purger, cfg });
    Router::new()
        .route("/purge/key/{key}", post(purge_key))
        .route("/purge/keys", post(purge_keys))
        .route("/purge/url", post(purge_url))
        .route("/purge/prefix", post(purge_prefix))
        .route("/purge/all", post(purge_all))
        .with_state(api)
}

/// `?soft=1` and `?hosts=a,b` on any route.
#[derive(Deserialize, Default)]
struct Params {
    soft: Option<String>,
    host: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Body {
    keys: Option<Vec<String>>,
    hosts: Option<Vec<String>>,
    url: Option<String>,
    prefix: Option<String>,
    host: Option<String>,
    soft: Option<bool>,
}

fn parse_body(bytes: &Bytes) -> Result<Body, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Soft when `?soft=1|true`, `"soft": true`, or `Fastly-Soft-Purge: 1`.
fn mode(params: &Params, body: &Body, headers: &HeaderMap) -> Mode {
    let query = params
        .soft
        .as_deref()
        .is_some_and(|v| matches!(v, "1" | "true" | "yes"));
    let fastly = headers
        .get("fastly-soft-purge")
        .is_some_and(|v| v.as_bytes() == b"1");
    if query || fastly || body.soft == Some(true) {
        Mode::Soft
    } else {
        Mode::Hard
    }
}

fn mode_str(m: Mode) -> &'static str {
    match m {
        Mode::Soft => "soft",
        Mode::Hard => "hard",
    }
}

fn check_host(api: &Api, token: &Token, host: &str) -> Result<(), ApiError> {
    if host.is_empty() || host.contains(['/', ' ', '?', '#']) {
        return Err(ApiError::bad_request(format!(
            "`{host}` is not a host name"
        )));
    }
    if !token.allows(host) {
        return Err(ApiError::forbidden(format!(
            "this token may not purge host `{host}`"
        )));
    }
    if !api.purger.serves_host(host) {
        return Err(ApiError::bad_request(format!(
            "unknown host `{host}`: this node serves no such site"
        )));
    }
    Ok(())
}

/// An absolute http(s) URL split into (host without port, path and query).
fn split_url(url: &str) -> Result<(String, String), ApiError> {
    let uri: http::Uri = url
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{url}` is not a URL")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(ApiError::bad_request(format!(
            "`{url}` must be an absolute http:// or https:// URL"
        )));
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("`{url}` has no host")))?;
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    Ok((host.to_ascii_lowercase(), pq.to_string()))
}

fn done(id: u64, purge: &str, m: Mode, extra: Value) -> Json<Value> {
    let mut v = json!({ "id": id, "status": "ok", "purge": purge, "mode": mode_str(m) });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    Json(v)
}

fn failed(e: String) -> ApiError {
    tracing::error!(error = %e, "purge could not be recorded");
    ApiError::unavailable(format!("purge not recorded: {e}"))
}

async fn purge_key(
    State(api): Shared,
    Path(key): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = parse_body(&bytes)?;
    keys_purge(&api, vec![key], &params, &body, &headers, "key")
}

async fn purge_keys(
    State(api): Shared,
    Query(params): Query<Params>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = parse_body(&bytes)?;
    let keys = body
        .keys
        .clone()
        .ok_or_else(|| ApiError::bad_request("body must be {\"keys\": [...]}"))?;
    keys_purge(&api, keys, &params, &body, &headers, "keys")
}

fn keys_purge(
    api: &Api,
    keys: Vec<String>,
    params: &Params,
    body: &Body,
    headers: &HeaderMap,
    kind: &str,
) -> Result<Json<Value>, ApiError> {
    let token = api.cfg.tokens.authenticate(headers)?;
    if keys.is_empty() {
        return Err(ApiError::bad_request("no keys given"));
    }
    if keys.len() > api.cfg.max_batch {
        return Err(ApiError::bad_request(format!(
            "{} keys exceed the batch limit of {}",
            keys.len(),
            api.cfg.max_batch
        )));
    }
    if let Some(k) = keys
        .iter()
        .find(|k| k.trim().is_empty() || k.contains(char::is_whitespace))
    {
        return Err(ApiError::bad_request(format!(
            "invalid key `{k}`: keys are non-empty and contain no spaces"
        )));
    }
    let hosts: Vec<String> = match (&body.hosts, &params.host) {
        (Some(h), _) => h.iter().map(|h| h.to_ascii_lowercase()).collect(),
        (None, Some(h)) => h
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect(),
        (None, None) => token.hosts().to_vec(),
    };
    for h in hosts.iter().filter(|h| h.as_str() != "*") {
        check_host(api, token, h)?;
    }
    if hosts.iter().any(|h| h == "*") && !token.allows("*") {
        return Err(ApiError::forbidden("this token may not purge every host"));
    }
    let m = mode(params, body, headers);
    let id = api.purger.purge_keys(&hosts, &keys, m).map_err(failed)?;
    Ok(done(id, kind, m, json!({ "keys": keys, "hosts": hosts })))
}

async fn purge_url(
    State(api): Shared,
    Query(params): Query<Params>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    url_purge(&api, &params, &headers, &bytes, UrlScope::Exact)
}

async fn purge_prefix(
    State(api): Shared,
    Query(params): Query<Params>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    url_purge(&api, &params, &headers, &bytes, UrlScope::Prefix)
}

/// The two purges named by an absolute URL in the body.
#[derive(Clone, Copy)]
enum UrlScope {
    /// `{"url": ...}`: that URL, every variant.
    Exact,
    /// `{"prefix": ...}`: every URL of the host under that path prefix.
    Prefix,
}

fn url_purge(
    api: &Api,
    params: &Params,
    headers: &HeaderMap,
    bytes: &Bytes,
    scope: UrlScope,
) -> Result<Json<Value>, ApiError> {
    let token = api.cfg.tokens.authenticate(headers)?;
    let body = parse_body(bytes)?;
    let (field, given) = match scope {
        UrlScope::Exact => ("url", body.url.as_deref()),
        UrlScope::Prefix => ("prefix", body.prefix.as_deref()),
    };
    let given = given.ok_or_else(|| {
        ApiError::bad_request(format!(
            "body must be {{\"{field}\": \"http://host/path\"}}"
        ))
    })?;
    let (host, pq) = split_url(given)?;
    check_host(api, token, &host)?;
    let m = mode(params, &body, headers);
    let id = match scope {
        UrlScope::Exact => api.purger.purge_url(&host, &pq, m),
        UrlScope::Prefix => api.purger.purge_prefix(&host, &pq, m),
    }
    .map_err(failed)?;
    let (purge, key) = match scope {
        UrlScope::Exact => ("url", "path"),
        UrlScope::Prefix => ("prefix", "prefix"),
    };
    Ok(done(id, purge, m, json!({ "host": host, key: pq })))
}

async fn purge_all(
    State(api): Shared,
    Query(params): Query<Params>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let token = api.cfg.tokens.authenticate(&headers)?;
    let body = parse_body(&bytes)?;
    let host = body
        .host
        .clone()
        .or_else(|| params.host.clone())
        .ok_or_else(|| ApiError::bad_request("body must be {\"host\": \"example.com\"}"))?
        .to_ascii_lowercase();
    check_host(&api, token, &host)?;
    let m = mode(&params, &body, &headers);
    let id = api.purger.purge_all(&host, m).map_err(failed)?;
    Ok(done(id, "all", m, json!({ "host": host })))
}

#[cfg(test)]
mod tests;
