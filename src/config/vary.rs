//! Declared Vary normalisation, the variant cap and origin-triggered purges:
//! the `[cache]` fields that `[[sites]]` may override, their checks, and the
//! per-site values they resolve to (docs/vary.md, docs/purge-api.md).

use super::{CacheConfig, ConfigError, SiteConfig, invalid};
use crate::http_cache::vary_normalise::{FieldRule, VaryRules};
use serde::Deserialize;

/// Most variants one URL may be capped at.
const MAX_VARIANTS: usize = 4096;

/// One `[[cache.vary_fields]]` (or `[[sites.vary_fields]]`) entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaryFieldConfig {
    /// The request field a Vary may name, e.g. `X-Theme`. Required. Not
    /// `Accept-Language` nor `User-Agent` (they have their own settings).
    pub name: String,
    /// Lower-case its value before comparing and keying. Default: false.
    #[serde(default)]
    pub lowercase: bool,
    /// Allowed values; any other value, or an absent field, keys as one
    /// default bucket. Default: `[]` (every value keys as itself).
    #[serde(default)]
    pub values: Vec<String>,
}

/// A site's origin-purge settings, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginPurgeRule {
    /// The response field, lower-case.
    pub field: http::HeaderName,
    /// Most keys honoured from one response.
    pub max_keys: usize,
    /// Longest key honoured, in bytes.
    pub max_key_bytes: usize,
    /// The hosts the purge applies to: the site's hosts (lower-case), or
    /// empty for the default origin (then the request's host).
    pub hosts: Vec<String>,
}

/// A site's Vary rules, variant cap and origin-purge rule, resolved from
/// its overrides and `[cache]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteVary {
    /// Declared normalisation of selecting fields.
    pub rules: VaryRules,
    /// Most variants stored per URL.
    pub max_variants: usize,
    /// Purges its origin may trigger (`None`: off).
    pub origin_purge: Option<OriginPurgeRule>,
}

impl SiteVary {
    /// Resolve for `site` (`None`: the default origin).
    pub fn new(cache: &CacheConfig, site: Option<&SiteConfig>) -> SiteVary {
        SiteVary {
            rules: rules(cache, site),
            max_variants: max_variants(cache, site),
            origin_purge: origin_purge(cache, site),
        }
    }
}

/// The Vary rules of a site: its overrides, else `[cache]`.
pub fn rules(cache: &CacheConfig, site: Option<&SiteConfig>) -> VaryRules {
    let languages = site
        .and_then(|s| s.vary_languages.as_ref())
        .unwrap_or(&cache.vary_languages);
    let fields = site
        .and_then(|s| s.vary_fields.as_ref())
        .unwrap_or(&cache.vary_fields);
    VaryRules {
        languages: languages.iter().map(|l| l.to_ascii_lowercase()).collect(),
        user_agent: site
            .and_then(|s| s.vary_user_agent)
            .unwrap_or(cache.vary_user_agent),
        fields: fields
            .iter()
            .map(|f| FieldRule {
                name: f.name.to_ascii_lowercase(),
                lowercase: f.lowercase,
                values: f.values.clone(),
            })
            .collect(),
    }
}

/// The variant cap of a site.
pub fn max_variants(cache: &CacheConfig, site: Option<&SiteConfig>) -> usize {
    site.and_then(|s| s.max_variants_per_url)
        .unwrap_or(cache.max_variants_per_url)
}

/// The origin-purge rule of a site; `None`: off (an empty name turns a
/// site off when `[cache]` turns it on).
pub fn origin_purge(cache: &CacheConfig, site: Option<&SiteConfig>) -> Option<OriginPurgeRule> {
    let name = site
        .and_then(|s| s.origin_purge_header.as_ref())
        .or(cache.origin_purge_header.as_ref())?;
    let field = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
    Some(OriginPurgeRule {
        field,
        max_keys: cache.origin_purge_max_keys,
        max_key_bytes: cache.origin_purge_max_key_bytes,
        hosts: site
            .map(|s| s.hosts.iter().map(|h| h.to_ascii_lowercase()).collect())
            .unwrap_or_default(),
    })
}

/// Check the `[cache]` fields, or a site's overrides (`prefix` is `cache`
/// or `sites[i]`).
pub fn check(
    prefix: &str,
    languages: Option<&[String]>,
    fields: Option<&[VaryFieldConfig]>,
    max_variants: Option<usize>,
    purge_header: Option<&str>,
    purge_may_be_empty: bool,
) -> Result<(), ConfigError> {
    for (i, l) in languages.unwrap_or_default().iter().enumerate() {
        if l.is_empty() || l == "*" || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(invalid(
                format!("{prefix}.vary_languages[{i}]"),
                format!("`{l}` is not a language tag"),
            ));
        }
    }
    for (i, f) in fields.unwrap_or_default().iter().enumerate() {
        let field = format!("{prefix}.vary_fields[{i}].name");
        if http::HeaderName::from_bytes(f.name.as_bytes()).is_err() {
            return Err(invalid(
                field,
                format!("`{}` is not a header field name", f.name),
            ));
        }
        if ["accept-language", "user-agent"].contains(&f.name.to_ascii_lowercase().as_str()) {
            return Err(invalid(
                field,
                "use vary_languages / vary_user_agent for this field",
            ));
        }
    }
    if let Some(n) = max_variants
        && !(1..=MAX_VARIANTS).contains(&n)
    {
        return Err(invalid(
            format!("{prefix}.max_variants_per_url"),
            format!("must be between 1 and {MAX_VARIANTS}"),
        ));
    }
    if let Some(h) = purge_header
        && !(h.is_empty() && purge_may_be_empty)
        && http::HeaderName::from_bytes(h.as_bytes()).is_err()
    {
        return Err(invalid(
            format!("{prefix}.origin_purge_header"),
            format!("`{h}` is not a header field name"),
        ));
    }
    Ok(())
}

/// Check the `[cache]` limits on origin purges.
pub fn check_limits(cache: &CacheConfig) -> Result<(), ConfigError> {
    if !(1..=1000).contains(&cache.origin_purge_max_keys) {
        return Err(invalid(
            "cache.origin_purge_max_keys",
            "must be between 1 and 1000",
        ));
    }
    if !(1..=1024).contains(&cache.origin_purge_max_key_bytes) {
        return Err(invalid(
            "cache.origin_purge_max_key_bytes",
            "must be between 1 and 1024",
        ));
    }
    Ok(())
}
