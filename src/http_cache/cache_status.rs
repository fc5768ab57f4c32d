//! The Cache-Status response field (RFC 9211).

// Numbers are written without core::fmt: this runs for every response.
use super::decimal::num;
use http::HeaderValue;

/// Why the request went forward to the origin (RFC 9211 §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fwd {
    /// Nothing stored for the URI.
    UriMiss,
    /// Stored for the URI, but not for this variant.
    VaryMiss,
    /// Miss for another reason (e.g. a damaged entry).
    Miss,
    /// The request's directives required it.
    Request,
    /// The stored response was stale.
    Stale,
    /// Only part of the response was stored.
    Partial,
    /// Configured or protocol bypass.
    Bypass,
    /// The method is not cacheable.
    Method,
}

impl Fwd {
    /// The RFC 9211 token.
    pub fn as_str(self) -> &'static str {
        match self {
            Fwd::UriMiss => "uri-miss",
            Fwd::VaryMiss => "vary-miss",
            Fwd::Miss => "miss",
            Fwd::Request => "request",
            Fwd::Stale => "stale",
            Fwd::Partial => "partial",
            Fwd::Bypass => "bypass",
            Fwd::Method => "method",
        }
    }
}

/// This cache's member of the Cache-Status list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStatus {
    /// `hit`: served from cache without contacting the origin.
    pub hit: bool,
    /// `fwd`: why the request went forward.
    pub fwd: Option<Fwd>,
    /// `fwd-status`: the status the origin answered.
    pub fwd_status: Option<u16>,
    /// `ttl`: remaining freshness in seconds (negative when stale).
    pub ttl: Option<i64>,
    /// `stored`: whether the forwarded response was stored.
    pub stored: Option<bool>,
    /// `collapsed`: whether the request was collapsed with another.
    pub collapsed: bool,
    /// `key`: the cache key, when configured to expose it.
    pub key: Option<String>,
    /// `detail`: a reason token.
    pub detail: Option<&'static str>,
}

impl CacheStatus {
    /// Render as one list member named `cache_name` (an sf-token or sf-string).
    pub fn render(&self, cache_name: &str) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(cache_name.len() + 64);
        if cache_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:/*".contains(&b))
            && cache_name.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            s.push_str(cache_name);
        } else {
            s.push('"');
            for c in cache_name.chars() {
                if c == '\\' || c == '"' {
                    s.push('\\');
                }
                s.push(c);
            }
            s.push('"');
        }
        if self.hit {
            s.push_str("; hit");
        }
        if let Some(f) = self.fwd {
            s.push_str("; fwd=");
            s.push_str(f.as_str());
        }
        if let Some(st) = self.fwd_status {
            s.push_str("; fwd-status=");
            num(&mut s, u64::from(st));
        }
        if let Some(t) = self.ttl {
            s.push_str("; ttl=");
            if t < 0 {
                s.push('-');
            }
            num(&mut s, t.unsigned_abs());
        }
        if self.stored == Some(true) {
            s.push_str("; stored");
        }
        if self.collapsed {
            s.push_str("; collapsed");
        }
        if let Some(k) = &self.key {
            let _ = write!(s, "; key=\"{k}\"");
        }
        if let Some(d) = self.detail {
            s.push_str("; detail=");
            s.push_str(d);
        }
        s
    }

    /// Append this member to an upstream Cache-Status value (RFC 9211 §2:
    /// the last member is the cache closest to the client).
    pub fn append_to(
        &self,
        upstream: Option<&HeaderValue>,
        cache_name: &str,
    ) -> Option<HeaderValue> {
        let ours = self.render(cache_name);
        let value = match upstream
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(up) => format!("{up}, {ours}"),
            None => ours,
        };
        HeaderValue::from_str(&value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9211 §2 parameters and list order.
    #[test]
    fn renders_cache_status() {
        let cases = [
            (
                CacheStatus {
                    hit: true,
                    ttl: Some(30),
                    ..Default::default()
                },
                "edgecache; hit; ttl=30",
            ),
            (
                CacheStatus {
                    fwd: Some(Fwd::UriMiss),
                    fwd_status: Some(200),
                    stored: Some(true),
                    ttl: Some(60),
                    ..Default::default()
                },
                "edgecache; fwd=uri-miss; fwd-status=200; ttl=60; stored",
            ),
            (
                CacheStatus {
                    fwd: Some(Fwd::Method),
                    fwd_status: Some(201),
                    detail: Some("method"),
                    ..Default::default()
                },
                "edgecache; fwd=method; fwd-status=201; detail=method",
            ),
            // §2.4: ttl is negative once stale; zero and large values.
            (
                CacheStatus {
                    hit: true,
                    ttl: Some(-17),
                    detail: Some("stale-while-revalidate"),
                    ..Default::default()
                },
                "edgecache; hit; ttl=-17; detail=stale-while-revalidate",
            ),
            (
                CacheStatus {
                    fwd: Some(Fwd::Stale),
                    fwd_status: Some(0),
                    ttl: Some(i64::MIN),
                    ..Default::default()
                },
                "edgecache; fwd=stale; fwd-status=0; ttl=-9223372036854775808",
            ),
            (
                CacheStatus {
                    hit: true,
                    ttl: Some(0),
                    ..Default::default()
                },
                "edgecache; hit; ttl=0",
            ),
        ];
        for (cs, want) in cases {
            assert_eq!(cs.render("edgecache"), want);
        }
        assert_eq!(CacheStatus::default().render("my cache"), "\"my cache\"");
        let up = HeaderValue::from_static("OriginCache; hit");
        let v = CacheStatus {
            hit: true,
            ..Default::default()
        }
        .append_to(Some(&up), "edge");
        assert_eq!(
            v,
            Some(HeaderValue::from_static("OriginCache; hit, edge; hit"))
        );
    }
}
