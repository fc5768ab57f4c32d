//! This node's member of a response's Cache-Status field (RFC 9211 §2),
//! read back for the span's cache attributes, so the pipeline needs no
//! change to report them. The node's member is the last of the list
//! ([`crate::http_cache::cache_status::CacheStatus::append_to`]); its
//! cache name never holds a comma, so the text after the last comma is it.

/// The parameters of one Cache-Status member.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CacheOutcome<'a> {
    /// `hit`.
    pub hit: bool,
    /// `fwd`: why the request went to the origin.
    pub fwd: Option<&'a str>,
    /// `fwd-status`.
    pub fwd_status: Option<i64>,
    /// `ttl`, in seconds.
    pub ttl: Option<i64>,
    /// `stored`.
    pub stored: bool,
    /// `collapsed`.
    pub collapsed: bool,
    /// `key` (when the node exposes it), without its quotes.
    pub key: Option<&'a str>,
    /// `detail`.
    pub detail: Option<&'a str>,
}

/// Parse the last member of a Cache-Status value. Parameters it does not
/// know, or cannot read, are skipped.
pub fn parse(value: &str) -> CacheOutcome<'_> {
    let member = value.rsplit(',').next().unwrap_or("");
    let mut out = CacheOutcome::default();
    // The first item is the cache's name.
    for param in member.split(';').skip(1) {
        let (name, v) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (param.trim(), None),
        };
        match (name, v) {
            ("hit", None) => out.hit = true,
            ("stored", None) => out.stored = true,
            ("collapsed", None) => out.collapsed = true,
            ("fwd", Some(v)) => out.fwd = Some(v),
            ("fwd-status", Some(v)) => out.fwd_status = v.parse().ok(),
            ("ttl", Some(v)) => out.ttl = v.parse().ok(),
            ("key", Some(v)) => out.key = Some(v.trim_matches('"')),
            ("detail", Some(v)) => out.detail = Some(v.trim_matches('"')),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_cache::cache_status::{CacheStatus, Fwd};

    /// What `CacheStatus::render` writes reads back the same.
    #[test]
    fn reads_back_what_the_node_renders() {
        let cases = [
            CacheStatus {
                hit: true,
                ttl: Some(30),
                key: Some("ab12".into()),
                ..Default::default()
            },
            CacheStatus {
                fwd: Some(Fwd::UriMiss),
                fwd_status: Some(200),
                ttl: Some(-5),
                stored: Some(true),
                collapsed: true,
                detail: Some("max-stale"),
                ..Default::default()
            },
            CacheStatus::default(),
        ];
        for cs in cases {
            let text = cs.render("edgecache");
            let got = parse(&text);
            assert_eq!(got.hit, cs.hit, "{text}");
            assert_eq!(got.fwd, cs.fwd.map(Fwd::as_str), "{text}");
            assert_eq!(got.fwd_status, cs.fwd_status.map(i64::from), "{text}");
            assert_eq!(got.ttl, cs.ttl, "{text}");
            assert_eq!(got.stored, cs.stored == Some(true), "{text}");
            assert_eq!(got.collapsed, cs.collapsed, "{text}");
            assert_eq!(got.key, cs.key.as_deref(), "{text}");
            assert_eq!(got.detail, cs.detail, "{text}");
        }
    }

    /// Only the last member (this node's) counts.
    #[test]
    fn reads_only_the_last_member() {
        let got = parse("OriginCache; hit; ttl=100, edgecache; fwd=stale; fwd-status=304");
        assert_eq!(
            got,
            CacheOutcome {
                fwd: Some("stale"),
                fwd_status: Some(304),
                ..Default::default()
            }
        );
        assert_eq!(parse(""), CacheOutcome::default());
        assert_eq!(parse("edgecache; ttl=abc; hit=?1").ttl, None);
    }
}
