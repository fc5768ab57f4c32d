//! `[tracing]`: OpenTelemetry traces. A server span per request and a client
//! span per origin exchange, exported over OTLP (HTTP/protobuf or gRPC) in
//! bounded batches; W3C `traceparent`/`tracestate` continued from trusted
//! clients and sent to origins. docs/tracing.md describes what is exported.

use super::{ConfigError, invalid};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Longest flush interval and export timeout: one minute.
const MAX_MS: u64 = 60_000;
/// Largest span queue.
const MAX_QUEUE: usize = 1 << 20;

/// How spans are sent to the collector.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OtlpProtocol {
    /// OTLP/HTTP with protobuf bodies: `POST <endpoint>/v1/traces`.
    #[default]
    Http,
    /// OTLP/gRPC over HTTP/2 without TLS (h2c, prior knowledge).
    Grpc,
}

/// Whose incoming `traceparent` the node continues.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TrustIncoming {
    /// Every client's.
    Always,
    /// Nobody's: every request starts a trace.
    Never,
    /// Only clients inside `upstream.trusted_proxies`.
    #[default]
    TrustedProxies,
}

/// `[tracing]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// Record and export spans. When off the node adds no span, no
    /// `traceparent`, and passes the client's own `traceparent` through
    /// unchanged. Default: false.
    pub enabled: bool,
    /// The collector's base URL, `http://host:port` (TLS is not supported).
    /// Default: `http://127.0.0.1:4318` for `http`, `http://127.0.0.1:4317`
    /// for `grpc`.
    pub endpoint: Option<String>,
    /// `http` (OTLP/HTTP protobuf, `POST <endpoint>/v1/traces`) or `grpc`
    /// (OTLP/gRPC over h2c). Default: `http`.
    pub protocol: OtlpProtocol,
    /// Fraction of new traces sampled, 0.0 to 1.0, decided once per trace
    /// from its trace id. A trusted parent's sampled flag overrides it.
    /// Default: 0.01.
    pub sample_ratio: f64,
    /// Export a request that ends in 5xx or an origin failure even when its
    /// trace was not sampled. It costs every unsampled request a small
    /// record (docs/tracing.md gives the measured cost). Default: false.
    pub always_sample_errors: bool,
    /// Whose `traceparent` is continued: `always`, `never` or
    /// `trusted_proxies` (clients inside `upstream.trusted_proxies`).
    /// Default: `trusted_proxies`.
    pub trust_incoming: TrustIncoming,
    /// `service.name` of the exported resource. Default: `edgecache`.
    pub service_name: String,
    /// Spans waiting for export; when full, new spans are dropped and
    /// counted. 1 to 1048576. Default: 4096.
    pub max_queue_spans: usize,
    /// Most spans in one export request. 1 to `max_queue_spans`.
    /// Default: 512.
    pub max_batch_spans: usize,
    /// Longest time a span waits for its batch to fill before it is sent.
    /// 1 to 60000. Default: 5000.
    pub flush_interval_ms: u64,
    /// Longest time one export request may take; a slower one fails and its
    /// spans are dropped and counted. 1 to 60000. Default: 10000.
    pub export_timeout_ms: u64,
    /// Extra request fields sent with every export (for example an
    /// `authorization` token). Default: none.
    pub headers: BTreeMap<String, String>,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            enabled: false,
            endpoint: None,
            protocol: OtlpProtocol::Http,
            sample_ratio: 0.01,
            always_sample_errors: false,
            trust_incoming: TrustIncoming::TrustedProxies,
            service_name: "edgecache".into(),
            max_queue_spans: 4096,
            max_batch_spans: 512,
            flush_interval_ms: 5000,
            export_timeout_ms: 10_000,
            headers: BTreeMap::new(),
        }
    }
}

impl TracingConfig {
    /// The collector's base URL, with the protocol's default port.
    pub fn endpoint(&self) -> &str {
        match (&self.endpoint, self.protocol) {
            (Some(e), _) => e,
            (None, OtlpProtocol::Http) => "http://127.0.0.1:4318",
            (None, OtlpProtocol::Grpc) => "http://127.0.0.1:4317",
        }
    }

    /// Check every value (also when disabled, so a typo waits for nobody);
    /// the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let endpoint = self.endpoint();
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| invalid("tracing.endpoint", format!("`{endpoint}`: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(invalid(
                "tracing.endpoint",
                format!("`{endpoint}` must be http://host[:port] (TLS is not supported)"),
            ));
        }
        super::access_log::check_sample("tracing.sample_ratio", self.sample_ratio)?;
        if self.service_name.is_empty() {
            return Err(invalid("tracing.service_name", "must not be empty"));
        }
        if !(1..=MAX_QUEUE).contains(&self.max_queue_spans) {
            return Err(invalid(
                "tracing.max_queue_spans",
                format!("must be between 1 and {MAX_QUEUE}"),
            ));
        }
        if !(1..=self.max_queue_spans).contains(&self.max_batch_spans) {
            return Err(invalid(
                "tracing.max_batch_spans",
                "must be between 1 and tracing.max_queue_spans",
            ));
        }
        for (field, v) in [
            ("tracing.flush_interval_ms", self.flush_interval_ms),
            ("tracing.export_timeout_ms", self.export_timeout_ms),
        ] {
            if !(1..=MAX_MS).contains(&v) {
                return Err(invalid(field, format!("must be between 1 and {MAX_MS}")));
            }
        }
        for (name, value) in &self.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(invalid(
                    format!("tracing.headers.{name}"),
                    "is not a header field name",
                ));
            }
            if http::HeaderValue::from_str(value).is_err() {
                return Err(invalid(
                    format!("tracing.headers.{name}"),
                    "is not a valid field value",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_parses_with_its_defaults_filled_in() {
        let text = "[tracing]\nenabled = true\nprotocol = \"grpc\"\nsample_ratio = 0.5\n\
                    trust_incoming = \"always\"\n[tracing.headers]\nauthorization = \"Bearer x\"\n";
        let cfg: crate::config::Config = toml::from_str(text).expect("parses");
        cfg.validate().expect("valid");
        let t = &cfg.tracing;
        assert!(t.enabled);
        assert_eq!(t.protocol, OtlpProtocol::Grpc);
        assert_eq!(t.endpoint(), "http://127.0.0.1:4317");
        assert_eq!(t.trust_incoming, TrustIncoming::Always);
        assert_eq!(t.sample_ratio, 0.5);
        assert!(!t.always_sample_errors);
        assert_eq!(
            t.headers.get("authorization").map(String::as_str),
            Some("Bearer x")
        );
        let bad =
            toml::from_str::<crate::config::Config>("[tracing]\ntrust_incoming = \"maybe\"\n");
        assert!(bad.is_err(), "unknown trust_incoming value");
    }

    #[test]
    fn defaults_are_valid_and_bad_values_name_the_field() {
        TracingConfig::default().validate().expect("defaults");
        let cases: [(fn(&mut TracingConfig), &str); 9] = [
            (
                |c| c.endpoint = Some("https://collector:4318".into()),
                "tracing.endpoint",
            ),
            (
                |c| c.endpoint = Some("collector:4318".into()),
                "tracing.endpoint",
            ),
            (|c| c.sample_ratio = 1.5, "tracing.sample_ratio"),
            (|c| c.sample_ratio = f64::NAN, "tracing.sample_ratio"),
            (|c| c.service_name.clear(), "tracing.service_name"),
            (|c| c.max_queue_spans = 0, "tracing.max_queue_spans"),
            (
                |c| c.max_batch_spans = c.max_queue_spans + 1,
                "tracing.max_batch_spans",
            ),
            (|c| c.flush_interval_ms = 0, "tracing.flush_interval_ms"),
            (
                |c| c.export_timeout_ms = MAX_MS + 1,
                "tracing.export_timeout_ms",
            ),
        ];
        for (spoil, field) in cases {
            let mut c = TracingConfig::default();
            spoil(&mut c);
            match c.validate() {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected an error, got {other:?}"),
            }
        }
        let mut c = TracingConfig::default();
        c.headers.insert("bad name".into(), "v".into());
        match c.validate() {
            Err(ConfigError::Invalid { field, .. }) => {
                assert_eq!(field, "tracing.headers.bad name")
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
