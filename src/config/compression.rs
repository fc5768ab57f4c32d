//! `[compression]`: one stored copy per object, served in every content
//! coding a client accepts (gzip, br, zstd or identity), with the encoded
//! forms made from it on demand and cached beside it. `[[sites]]
//! compression = { … }` overrides any field for one site. docs/encodings.md
//! explains the design.

use super::{ConfigError, invalid};
use serde::Deserialize;

/// The codings the node can make and read.
pub const CODINGS: [&str; 3] = ["br", "zstd", "gzip"];

/// `[compression]`
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionConfig {
    /// Negotiate content codings at the node: fetch one copy from the
    /// origin (asking it for `origin_accept_encoding`), store it, and serve
    /// each client the coding it prefers from it. When off, Accept-Encoding
    /// goes to the origin as the client sent it and keys Vary variants as
    /// any other field. Default: true.
    pub enabled: bool,
    /// Media types worth compressing: exact (`application/json`) or with
    /// one `*` (`text/*`, `application/*+json`); parameters are ignored.
    /// Default: `["text/*", "application/json", "application/*+json",
    /// "application/javascript", "application/xml", "application/*+xml",
    /// "application/wasm", "image/svg+xml", "image/x-icon", "font/ttf",
    /// "font/otf"]`.
    pub types: Vec<String>,
    /// Codings the node makes, in the node's order of preference when a
    /// client weighs several equally (any of `br`, `zstd`, `gzip`; an
    /// empty list only decodes for identity clients). Default: `["br",
    /// "zstd", "gzip"]`.
    pub encodings: Vec<String>,
    /// Smallest body (in bytes) worth compressing. Default: 256.
    pub min_bytes: u64,
    /// Largest body (in bytes) the node compresses or decompresses, and
    /// the cap on a decompressed body (a larger one is passed through as
    /// the origin sent it). Also only bodies stored in one piece
    /// (`storage.chunk_bytes`) are transformed. Default: 1048576 (1 MiB).
    pub max_bytes: u64,
    /// gzip level, 1 (fastest) to 9 (smallest). Default: 6.
    pub gzip_level: u32,
    /// Brotli quality, 0 to 11. Default: 5.
    pub br_level: u32,
    /// zstd level, 1 to 19. Default: 6.
    pub zstd_level: i32,
    /// The Accept-Encoding the node sends the origin for every GET and
    /// HEAD it forwards (so every client shares one fetch and one stored
    /// object). Default: `"identity"`.
    pub origin_accept_encoding: String,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            enabled: true,
            types: [
                "text/*",
                "application/json",
                "application/*+json",
                "application/javascript",
                "application/xml",
                "application/*+xml",
                "application/wasm",
                "image/svg+xml",
                "image/x-icon",
                "font/ttf",
                "font/otf",
            ]
            .map(String::from)
            .to_vec(),
            encodings: CODINGS.map(String::from).to_vec(),
            min_bytes: 256,
            max_bytes: 1 << 20,
            gzip_level: 6,
            br_level: 5,
            zstd_level: 6,
            origin_accept_encoding: "identity".into(),
        }
    }
}

/// `[[sites]] compression = { … }`: each field, when set, replaces the
/// `[compression]` value for that site. Default: every field unset.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionOverride {
    /// Default: the `[compression] enabled` value.
    pub enabled: Option<bool>,
    /// Default: the `[compression] types` value.
    pub types: Option<Vec<String>>,
    /// Default: the `[compression] encodings` value.
    pub encodings: Option<Vec<String>>,
    /// Default: the `[compression] min_bytes` value.
    pub min_bytes: Option<u64>,
    /// Default: the `[compression] max_bytes` value.
    pub max_bytes: Option<u64>,
    /// Default: the `[compression] gzip_level` value.
    pub gzip_level: Option<u32>,
    /// Default: the `[compression] br_level` value.
    pub br_level: Option<u32>,
    /// Default: the `[compression] zstd_level` value.
    pub zstd_level: Option<i32>,
    /// Default: the `[compression] origin_accept_encoding` value.
    pub origin_accept_encoding: Option<String>,
}

impl CompressionConfig {
    /// This config with a site's overrides applied.
    pub fn with(&self, o: &CompressionOverride) -> CompressionConfig {
        CompressionConfig {
            enabled: o.enabled.unwrap_or(self.enabled),
            types: o.types.clone().unwrap_or_else(|| self.types.clone()),
            encodings: o
                .encodings
                .clone()
                .unwrap_or_else(|| self.encodings.clone()),
            min_bytes: o.min_bytes.unwrap_or(self.min_bytes),
            max_bytes: o.max_bytes.unwrap_or(self.max_bytes),
            gzip_level: o.gzip_level.unwrap_or(self.gzip_level),
            br_level: o.br_level.unwrap_or(self.br_level),
            zstd_level: o.zstd_level.unwrap_or(self.zstd_level),
            origin_accept_encoding: o
                .origin_accept_encoding
                .clone()
                .unwrap_or_else(|| self.origin_accept_encoding.clone()),
        }
    }

    /// Check every field; `section` is `compression` or
    /// `sites[i].compression`, so the error names the field.
    pub fn validate(&self, section: &str) -> Result<(), ConfigError> {
        let field = |f: &str| format!("{section}.{f}");
        if let Some(t) = self.types.iter().find(|t| !valid_type(t)) {
            return Err(invalid(
                field("types"),
                format!("`{t}` is not a media type (`type/subtype`, at most one `*`)"),
            ));
        }
        if let Some(e) = self
            .encodings
            .iter()
            .find(|e| !CODINGS.contains(&e.as_str()))
        {
            return Err(invalid(
                field("encodings"),
                format!("`{e}` is not one of br, zstd, gzip"),
            ));
        }
        if !(1024..=1 << 30).contains(&self.max_bytes) {
            return Err(invalid(
                field("max_bytes"),
                "must be between 1024 and 1073741824",
            ));
        }
        if self.min_bytes > self.max_bytes {
            return Err(invalid(field("min_bytes"), "must not exceed max_bytes"));
        }
        if !(1..=9).contains(&self.gzip_level) {
            return Err(invalid(field("gzip_level"), "must be between 1 and 9"));
        }
        if self.br_level > 11 {
            return Err(invalid(field("br_level"), "must be between 0 and 11"));
        }
        if !(1..=19).contains(&self.zstd_level) {
            return Err(invalid(field("zstd_level"), "must be between 1 and 19"));
        }
        if self.origin_accept_encoding.is_empty()
            || http::HeaderValue::from_str(&self.origin_accept_encoding).is_err()
        {
            return Err(invalid(
                field("origin_accept_encoding"),
                "must be a non-empty field value",
            ));
        }
        Ok(())
    }
}

fn valid_type(t: &str) -> bool {
    let Some((ty, sub)) = t.split_once('/') else {
        return false;
    };
    !ty.is_empty()
        && !sub.is_empty()
        && !sub.contains('/')
        && t.matches('*').count() <= 1
        && t.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_and_a_site_override_parse() {
        let text = "[compression]\nmin_bytes = 100\nbr_level = 9\n\n\
                    [[sites]]\nhosts = [\"a.example\"]\norigin = \"http://127.0.0.1:9\"\n\
                    compression = { enabled = false, gzip_level = 1 }\n";
        let cfg: crate::config::Config = toml::from_str(text).expect("parses");
        cfg.validate().expect("valid");
        assert_eq!(
            (cfg.compression.min_bytes, cfg.compression.br_level),
            (100, 9)
        );
        let site = cfg.compression.with(&cfg.sites[0].compression);
        assert!(!site.enabled);
        assert_eq!((site.gzip_level, site.min_bytes), (1, 100));
    }

    #[test]
    fn defaults_are_valid_and_bad_values_name_the_field() {
        CompressionConfig::default()
            .validate("compression")
            .expect("defaults");
        let cases: [(fn(&mut CompressionConfig), &str); 8] = [
            (|c| c.types = vec!["text".into()], "compression.types"),
            (
                |c| c.encodings = vec!["deflate".into()],
                "compression.encodings",
            ),
            (|c| c.max_bytes = 10, "compression.max_bytes"),
            (|c| c.min_bytes = 1 << 21, "compression.min_bytes"),
            (|c| c.gzip_level = 0, "compression.gzip_level"),
            (|c| c.br_level = 12, "compression.br_level"),
            (|c| c.zstd_level = 22, "compression.zstd_level"),
            (
                |c| c.origin_accept_encoding = String::new(),
                "compression.origin_accept_encoding",
            ),
        ];
        for (spoil, field) in cases {
            let mut c = CompressionConfig::default();
            spoil(&mut c);
            match c.validate("compression") {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected an error, got {other:?}"),
            }
        }
    }
}
