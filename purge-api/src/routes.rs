//! The routes. Each handler authenticates (before reading the body),
//! validates, calls the [`Purger`] on a blocking thread and answers
//! `{"id", "status": "ok", ...}`.

use crate::auth::Token;
use crate::input::{self, Body, Params};
use crate::{ApiConfig, ApiError, Mode, Purger};
use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{Path, RawQuery, State};
use axum::response::Json;
use axum::routing::post;
use http::HeaderMap;
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

/// Soft when `?soft=1|true|yes`, `"soft": true`, or `Fastly-Soft-Purge: 1`.
fn mode(params: &Params, body: &Body, headers: &HeaderMap) -> Mode {
    let fastly = headers
        .get("fastly-soft-purge")
        .is_some_and(|v| v.as_bytes() == b"1");
    if params.soft || fastly || body.soft == Some(true) {
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

/// Authenticate, then (and only then) read the query and the capped body.
async fn admit<'a>(
    api: &'a Api,
    query: Option<&str>,
    headers: &HeaderMap,
    body: AxumBody,
) -> Result<(&'a Token, Params, Body), ApiError> {
    let token = api.cfg.tokens.authenticate(headers)?;
    let params = input::params(query)?;
    if params.wait_fleet && !api.purger.in_fleet() {
        return Err(ApiError::bad_request(
            "`wait=fleet`: this node is not in a fleet ([fleet] servers is empty)",
        ));
    }
    let body = input::body(&api.cfg, headers, body).await?;
    Ok((token, params, body))
}

/// Run a purge on a blocking thread: it waits for a disk commit, which
/// must not hold up the async workers serving other requests.
async fn run<F>(api: &Arc<Api>, purge: F) -> Result<u64, ApiError>
where
    F: FnOnce(&dyn Purger) -> Result<u64, String> + Send + 'static,
{
    let purger = api.purger.clone();
    tokio::task::spawn_blocking(move || purge(purger.as_ref()))
        .await
        .map_err(|e| failed(format!("purge task failed: {e}")))?
        .map_err(failed)
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

/// Answer a recorded purge: at once (local durability), or with
/// `?wait=fleet` once the fleet applied it. 200 when every live node did,
/// 202 when some did not in time (the purge is durable here and reaches
/// them later).
async fn finish(
    api: &Arc<Api>,
    params: &Params,
    id: u64,
    purge: &str,
    m: Mode,
    extra: Value,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let mut answer = done(id, purge, m, extra);
    if !params.wait_fleet {
        return Ok(answer.into_response());
    }
    let fleet = api
        .purger
        .wait_fleet(id, params.timeout_ms)
        .await
        .map_err(ApiError::bad_request)?;
    let complete = fleet.timed_out.is_empty();
    if let Some(obj) = answer.0.as_object_mut() {
        obj.insert(
            "fleet".into(),
            json!({
                "complete": complete,
                "acked": fleet.acked,
                "timed_out": fleet.timed_out,
                "down": fleet.down,
                "waited_ms": fleet.waited_ms,
            }),
        );
    }
    let status = if complete {
        http::StatusCode::OK
    } else {
        http::StatusCode::ACCEPTED
    };
    Ok((status, answer).into_response())
}

fn failed(e: String) -> ApiError {
    tracing::error!(error = %e, "purge could not be recorded");
    ApiError::unavailable(format!("purge not recorded: {e}"))
}

async fn purge_key(
    State(api): Shared,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: AxumBody,
) -> Result<axum::response::Response, ApiError> {
    let (token, params, body) = admit(&api, query.as_deref(), &headers, body).await?;
    keys_purge(&api, token, vec![key], &params, &body, &headers, "key").await
}

async fn purge_keys(
    State(api): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: AxumBody,
) -> Result<axum::response::Response, ApiError> {
    let (token, params, body) = admit(&api, query.as_deref(), &headers, body).await?;
    let keys = body
        .keys
        .clone()
        .ok_or_else(|| ApiError::bad_request("body must be {\"keys\": [...]}"))?;
    keys_purge(&api, token, keys, &params, &body, &headers, "keys").await
}

async fn keys_purge(
    api: &Arc<Api>,
    token: &Token,
    keys: Vec<String>,
    params: &Params,
    body: &Body,
    headers: &HeaderMap,
    kind: &str,
) -> Result<axum::response::Response, ApiError> {
    input::check_keys(&api.cfg, &keys)?;
    let hosts: Vec<String> = match (&body.hosts, &params.host) {
        (Some(h), _) => h.iter().map(|h| h.to_ascii_lowercase()).collect(),
        (None, Some(h)) => h
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect(),
        (None, None) => token.hosts().to_vec(),
    };
    input::check_host_count(&api.cfg, &hosts)?;
    for h in hosts.iter().filter(|h| h.as_str() != "*") {
        check_host(api, token, h)?;
    }
    if hosts.iter().any(|h| h == "*") && !token.allows("*") {
        return Err(ApiError::forbidden("this token may not purge every host"));
    }
    let m = mode(params, body, headers);
    let id = {
        let (hosts, keys) = (hosts.clone(), keys.clone());
        run(api, move |p| p.purge_keys(&hosts, &keys, m)).await?
    };
    finish(
        api,
        params,
        id,
        kind,
        m,
        json!({ "keys": keys, "hosts": hosts }),
    )
    .await
}

async fn purge_url(
    State(api): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: AxumBody,
) -> Result<axum::response::Response, ApiError> {
    url_purge(&api, query.as_deref(), &headers, body, UrlScope::Exact).await
}

async fn purge_prefix(
    State(api): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: AxumBody,
) -> Result<axum::response::Response, ApiError> {
    url_purge(&api, query.as_deref(), &headers, body, UrlScope::Prefix).await
}

/// The two purges named by an absolute URL in the body.
#[derive(Clone, Copy)]
enum UrlScope {
    /// `{"url": ...}`: that URL, every variant.
    Exact,
    /// `{"prefix": ...}`: every URL of the host under that path prefix.
    Prefix,
}

async fn url_purge(
    api: &Arc<Api>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: AxumBody,
    scope: UrlScope,
) -> Result<axum::response::Response, ApiError> {
    let (token, params, body) = admit(api, query, headers, body).await?;
    if params.host.is_some() {
        return Err(ApiError::bad_request(
            "query parameter `host` applies to key purges only; the URL names the host",
        ));
    }
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
    let m = mode(&params, &body, headers);
    let id = {
        let (host, pq) = (host.clone(), pq.clone());
        run(api, move |p| match scope {
            UrlScope::Exact => p.purge_url(&host, &pq, m),
            UrlScope::Prefix => p.purge_prefix(&host, &pq, m),
        })
        .await?
    };
    let (purge, key) = match scope {
        UrlScope::Exact => ("url", "path"),
        UrlScope::Prefix => ("prefix", "prefix"),
    };
    finish(api, &params, id, purge, m, json!({ "host": host, key: pq })).await
}

async fn purge_all(
    State(api): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: AxumBody,
) -> Result<axum::response::Response, ApiError> {
    let (token, params, body) = admit(&api, query.as_deref(), &headers, body).await?;
    let host = body
        .host
        .clone()
        .or_else(|| params.host.clone())
        .ok_or_else(|| ApiError::bad_request("body must be {\"host\": \"example.com\"}"))?
        .to_ascii_lowercase();
    check_host(&api, token, &host)?;
    let m = mode(&params, &body, &headers);
    let id = {
        let host = host.clone();
        run(&api, move |p| p.purge_all(&host, m)).await?
    };
    finish(&api, &params, id, "all", m, json!({ "host": host })).await
}

#[cfg(test)]
mod tests;
