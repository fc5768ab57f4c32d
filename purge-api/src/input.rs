//! Request input: the query string (known parameters only), the body (read
//! only after authentication, and capped), and the limits on what a request
//! may name.

use crate::{ApiConfig, ApiError};
use axum::body::{Body as AxumBody, Bytes};
use http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;

/// `?soft=1` and `?host=a,b` on any route; nothing else is accepted, so a
/// misspelt parameter cannot silently widen a purge.
#[derive(Default)]
pub(crate) struct Params {
    /// `soft=1|true|yes` (or `0|false|no`).
    pub soft: bool,
    /// `host=a,b`: the hosts a key purge covers.
    pub host: Option<String>,
    /// `wait=fleet`: answer once every live node of the fleet applied it.
    pub wait_fleet: bool,
    /// `timeout_ms=N`: the longest `wait=fleet` waits.
    pub timeout_ms: Option<u64>,
}

/// The query parameters the API knows.
const KNOWN: &[&str] = &["soft", "host", "wait", "timeout_ms"];

/// Parse the raw query string; an unknown, repeated or malformed parameter is a 400.
pub(crate) fn params(query: Option<&str>) -> Result<Params, ApiError> {
    let mut out = Params::default();
    let mut seen: Vec<&str> = Vec::new();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
    for (name, value) in &pairs {
        let Some(&known) = KNOWN.iter().find(|k| **k == name) else {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter `{name}`; known: {}",
                KNOWN.join(", ")
            )));
        };
        if seen.contains(&known) {
            return Err(ApiError::bad_request(format!(
                "query parameter `{name}` given twice"
            )));
        }
        seen.push(known);
        match known {
            "soft" => {
                out.soft = match value.as_str() {
                    "1" | "true" | "yes" => true,
                    "0" | "false" | "no" => false,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "query parameter `soft` must be 1, true, yes, 0, false or no, not `{other}`"
                        )));
                    }
                }
            }
            "wait" => {
                out.wait_fleet = match value.as_str() {
                    "fleet" => true,
                    "local" => false,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "query parameter `wait` must be `fleet` or `local`, not `{other}`"
                        )));
                    }
                }
            }
            "timeout_ms" => {
                let ms = value
                    .parse::<u64>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "query parameter `timeout_ms` must be a positive integer, not `{value}`"
                        ))
                    })?;
                out.timeout_ms = Some(ms);
            }
            _ => out.host = Some(value.clone()),
        }
    }
    if out.timeout_ms.is_some() && !out.wait_fleet {
        return Err(ApiError::bad_request(
            "query parameter `timeout_ms` applies to `wait=fleet` only",
        ));
    }
    Ok(out)
}

/// The JSON body every route accepts (each route reads its own fields).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Body {
    pub keys: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    pub url: Option<String>,
    pub prefix: Option<String>,
    pub host: Option<String>,
    pub soft: Option<bool>,
}

/// Read and parse the body, at most `cfg.max_body_bytes` of it: 413 beyond.
/// Call only after the caller is authenticated, so an anonymous client
/// cannot make the node buffer (or wait for) a body.
pub(crate) async fn body(
    cfg: &ApiConfig,
    headers: &HeaderMap,
    body: AxumBody,
) -> Result<Body, ApiError> {
    let too_large = || {
        ApiError::too_large(format!(
            "request body exceeds the limit of {} bytes",
            cfg.max_body_bytes
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cfg.max_body_bytes as u64) {
        return Err(too_large());
    }
    let bytes: Bytes = match Limited::new(body, cfg.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "could not read the body: {e}"
            )));
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Check a key purge's keys: how many, and each one's length and spelling.
pub(crate) fn check_keys(cfg: &ApiConfig, keys: &[String]) -> Result<(), ApiError> {
    if keys.is_empty() {
        return Err(ApiError::bad_request("no keys given"));
    }
    if keys.len() > cfg.max_batch {
        return Err(ApiError::bad_request(format!(
            "{} keys exceed the batch limit of {} (purge.max_batch)",
            keys.len(),
            cfg.max_batch
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
    if let Some(k) = keys.iter().find(|k| k.len() > cfg.max_key_bytes) {
        return Err(ApiError::bad_request(format!(
            "a key of {} bytes exceeds the limit of {} bytes (purge.max_key_bytes); it starts `{}`",
            k.len(),
            cfg.max_key_bytes,
            k.chars().take(32).collect::<String>()
        )));
    }
    Ok(())
}

/// Check how many hosts a key purge names.
pub(crate) fn check_host_count(cfg: &ApiConfig, hosts: &[String]) -> Result<(), ApiError> {
    if hosts.is_empty() {
        return Err(ApiError::bad_request("no hosts given"));
    }
    if hosts.len() > cfg.max_hosts {
        return Err(ApiError::bad_request(format!(
            "{} hosts exceed the limit of {} per request (purge.max_hosts)",
            hosts.len(),
            cfg.max_hosts
        )));
    }
    Ok(())
}
