//! Origin-triggered invalidation: when a site turns it on
//! (`origin_purge_header`), a response from the site's own configured
//! origin may name surrogate keys to purge in that field. The keys go
//! through the purge API's path ([`crate::services::Services::purge`]: durable, and
//! queued for the fleet), scoped to the site's hosts. The field is removed
//! before the response is stored or sent on, and is capped in number of
//! keys and key length (a hostile or broken origin cannot flood the purge
//! database). Only responses fetched from the site's origin by this node
//! are read: a tier peer's answer already had the field removed by the
//! peer that fetched it (docs/purge-api.md).

use super::exchange::Exchange;
use crate::config::vary::OriginPurgeRule;
use crate::http_cache::canonical;
use crate::metrics::OriginPurgeOutcome;
use crate::purge::PurgeOp;
use http::HeaderMap;

/// The keys a purge field names, and how many were dropped for the caps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Named {
    /// Distinct keys, in order of appearance.
    pub keys: Vec<String>,
    /// Keys dropped: beyond `max_keys`, too long, or not text.
    pub dropped: usize,
}

/// Take the purge field out of `headers` and read its keys (separated by
/// spaces or commas, over any number of field lines).
pub fn take(headers: &mut HeaderMap, rule: &OriginPurgeRule) -> Option<Named> {
    if !headers.contains_key(&rule.field) {
        return None;
    }
    let mut out = Named::default();
    for value in headers.get_all(&rule.field) {
        let Ok(value) = value.to_str() else {
            out.dropped += 1;
            continue;
        };
        for key in value.split([' ', ',', '\t']).filter(|k| !k.is_empty()) {
            if key.len() > rule.max_key_bytes || out.keys.len() >= rule.max_keys {
                out.dropped += 1;
            } else if !out.keys.iter().any(|k| k == key) {
                out.keys.push(key.to_string());
            }
        }
    }
    headers.remove(&rule.field);
    Some(out)
}

/// Honour the purge field of a response from `ex`'s site origin, if the
/// site turns it on: the field is removed, and its keys are purged (hard)
/// before the response goes on, so the client's next request misses.
pub async fn honour(ex: &Exchange, headers: &mut HeaderMap) {
    let Some(rule) = &ex.site.vary.origin_purge else {
        return;
    };
    let Some(named) = take(headers, rule) else {
        return;
    };
    let pipeline = &ex.pipeline;
    let metrics = &pipeline.services.metrics.origin_purge;
    if named.dropped > 0 {
        metrics.keys_dropped.inc_by(named.dropped as u64);
        tracing::warn!(
            host = %ex.target.host,
            dropped = named.dropped,
            max_keys = rule.max_keys,
            max_key_bytes = rule.max_key_bytes,
            "origin purge field: keys dropped for the caps"
        );
    }
    if named.keys.is_empty() {
        metrics.count(OriginPurgeOutcome::Empty);
        return;
    }
    let hosts: Vec<String> = if rule.hosts.is_empty() {
        vec![ex.target.host.clone()]
    } else {
        rule.hosts
            .iter()
            .map(|h| canonical::host(h).to_string())
            .collect()
    };
    let count = named.keys.len();
    let op = PurgeOp::Keys {
        hosts: hosts.clone(),
        keys: named.keys,
    };
    let n = pipeline.clone();
    let done = tokio::task::spawn_blocking(move || n.services.purge(&op, false)).await;
    match done {
        Ok(Ok(id)) => {
            metrics.count(OriginPurgeOutcome::Applied);
            tracing::info!(id, ?hosts, count, "origin purged surrogate keys");
        }
        Ok(Err(e)) => {
            metrics.count(OriginPurgeOutcome::Failed);
            tracing::error!(error = %e, ?hosts, count, "origin purge not recorded");
        }
        Err(e) => {
            metrics.count(OriginPurgeOutcome::Failed);
            tracing::error!(error = %e, ?hosts, count, "origin purge task failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> OriginPurgeRule {
        OriginPurgeRule {
            field: http::HeaderName::from_static("edgecache-purge-keys"),
            max_keys: 3,
            max_key_bytes: 5,
            hosts: vec![],
        }
    }

    /// Keys are read over lines and separators, capped, and the field removed.
    #[test]
    fn takes_capped_keys() {
        let cases: &[(&[&str], Option<(&[&str], usize)>)] = &[
            (&[], None),
            (&["a b"], Some((&["a", "b"], 0))),
            (&["a,b", "c"], Some((&["a", "b", "c"], 0))),
            (&["a a  b"], Some((&["a", "b"], 0))),
            (&["a b c d e"], Some((&["a", "b", "c"], 2))),
            (&["toolong x"], Some((&["x"], 1))),
            (&[""], Some((&[], 0))),
        ];
        for (lines, want) in cases {
            let mut h = HeaderMap::new();
            for l in *lines {
                h.append("edgecache-purge-keys", l.parse().expect("value"));
            }
            h.insert("other", "1".parse().expect("value"));
            let got = take(&mut h, &rule());
            let want = want.map(|(k, d)| Named {
                keys: k.iter().map(|s| s.to_string()).collect(),
                dropped: d,
            });
            assert_eq!(got, want, "{lines:?}");
            assert!(!h.contains_key("edgecache-purge-keys"));
            assert!(h.contains_key("other"));
        }
    }
}
