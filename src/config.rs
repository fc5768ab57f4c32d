//! The node's configuration: documented plain data read from one TOML file,
//! with command-line overrides. Every field has a default; `validate` names
//! the field at fault. docs/config.md mirrors this file.

mod access_log;
mod compression;
mod fleet;
mod https;
mod origin_protocol;
pub mod vary;

pub use access_log::{AccessLogConfig, LogFormat};
pub use compression::{CODINGS, CompressionConfig, CompressionOverride};
pub use fleet::{CatchUp, FleetConfig};

pub use crate::http_cache::policy::SetCookie;
pub use crate::http_cache::vary_normalise::UserAgentRule;
pub use https::{CertificateConfig, ClientAuth, HttpsConfig, TlsVersion};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
pub use tracing::{OtlpProtocol, TracingConfig, TrustIncoming};
pub use vary::VaryFieldConfig;
pub use websocket::WebSocketConfig;

// `::tracing` is the logging crate; this module is the `[tracing]` section.
mod tier;
mod tracing;
mod websocket;
pub use tier::TierConfig;

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Origin for requests whose Host matches no `[[sites]]` entry, as
    /// `http://host:port`, or several comma-separated servers forming a pool.
    /// Default: none (such requests get 502).
    pub origin: Option<String>,
    /// Listener and process settings.
    pub server: ServerConfig,
    /// TLS listeners (and HTTP/3 beside them). Default: none.
    pub https: Vec<HttpsConfig>,
    /// Object store budgets and placement.
    pub storage: StorageConfig,
    /// Caching rules.
    pub cache: CacheConfig,
    /// Content codings negotiated at the node: one stored copy, every encoding.
    pub compression: CompressionConfig,
    /// How the node talks to origins.
    pub upstream: UpstreamConfig,
    /// Virtual hosts: Host names mapped to origins. Default: none.
    pub sites: Vec<SiteConfig>,
    /// Surrogate keys and purging.
    pub purge: PurgeConfig,
    /// The admin listener: purge API, metrics, health.
    pub admin: AdminConfig,
    /// WebSocket pass-through: tunnel limits and idle timeout.
    pub websocket: WebSocketConfig,
    /// The access log: one line per request.
    pub access_log: AccessLogConfig,
    /// OpenTelemetry traces: sampling, propagation and OTLP export.
    pub tracing: TracingConfig,
    /// The fleet: purge fan-out over NATS JetStream. Default: off.
    pub fleet: FleetConfig,
    /// Tiered caching over a ring of peer nodes. Default: off.
    pub tier: TierConfig,
}

/// One field that carries surrogate keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFieldConfig {
    /// Field name, e.g. `Surrogate-Key`. Required.
    pub name: String,
    /// One character separating keys, e.g. `" "` or `","`. Required.
    pub separator: String,
}

/// `[purge]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurgeConfig {
    /// Fields carrying surrogate keys. Default: `Surrogate-Key` separated by
    /// spaces (Fastly) and `Cache-Tag` separated by commas (Cloudflare).
    pub key_fields: Vec<KeyFieldConfig>,
    /// Most surrogate keys kept per object; the rest are dropped and counted. Default: 64.
    pub max_keys_per_object: usize,
    /// Longest surrogate key kept, in bytes. Default: 256.
    pub max_key_bytes: usize,
    /// Remove the key fields from responses sent downstream. Default: true.
    pub strip_key_fields: bool,
    /// Most keys in one purge API request (400 beyond). Default: 1000.
    pub max_batch: usize,
    /// Most hosts one purge API key purge may name (400 beyond). Default: 100.
    pub max_hosts: usize,
    /// Largest purge API request body, in bytes (413 beyond). The body is
    /// read only after the bearer token is checked. Default: 65536 (64 KiB).
    pub max_body_bytes: usize,
    /// Accept `PURGE <url>` on the public listener. Default: false.
    pub public_purge_method: bool,
    /// Client networks allowed to send `PURGE` when it is on.
    /// Default: `["127.0.0.1/32", "::1/128"]`.
    pub public_purge_cidrs: Vec<String>,
}

/// `[admin]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Admin listener (purge API, /metrics, /health). Default: `127.0.0.1:9080`.
    pub listen: SocketAddr,
    /// Bearer tokens for the purge API. Default: none (every purge gets 401).
    pub tokens: Vec<TokenConfig>,
}

/// One `[[admin.tokens]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The secret (at least 16 characters). Required. Never logged.
    pub token: String,
    /// Hosts this token may purge; `"*"` means every host. Required.
    pub hosts: Vec<String>,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        PurgeConfig {
            key_fields: vec![
                KeyFieldConfig {
                    name: "surrogate-key".into(),
                    separator: " ".into(),
                },
                KeyFieldConfig {
                    name: "cache-tag".into(),
                    separator: ",".into(),
                },
            ],
            max_keys_per_object: 64,
            max_key_bytes: 256,
            strip_key_fields: true,
            max_batch: 1000,
            max_hosts: 100,
            max_body_bytes: 64 * 1024,
            public_purge_method: false,
            public_purge_cidrs: vec!["127.0.0.1/32".into(), "::1/128".into()],
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9080)),
            tokens: Vec::new(),
        }
    }
}

/// `[server]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Public HTTP/1.1 + h2c listener. Default: `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Directory for the disk store and other state. Default: `edgecache-data`.
    pub data_dir: PathBuf,
    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT. Default: 30.
    pub drain_timeout_secs: u64,
    /// Name this node uses in Cache-Status and Via. Default: `edgecache`.
    pub cache_name: String,
    /// Seconds a client connection may take to send its request head. Default: 30.
    pub header_read_timeout_secs: u64,
    /// Async runtime: `multi_thread` (one worker per CPU the process may use)
    /// or `current_thread` (one thread). Default: `multi_thread` (see
    /// docs/benchmarks.md for the measurement).
    pub runtime: Runtime,
    /// Worker threads for `multi_thread`; 0 means one per CPU in the
    /// process's affinity mask. Default: 0.
    pub worker_threads: usize,
    /// Seconds a new connection may take to send its first byte (and, when
    /// it starts like the HTTP/2 preface, the whole 24-byte preface); it is
    /// then closed without an answer. 1 to 86400. Default: 10.
    pub first_bytes_timeout_secs: u64,
    /// Seconds an HTTP/2 connection may stay with no request in flight
    /// before the node sends GOAWAY and closes it. 1 to 86400. Default: 60.
    pub h2_idle_timeout_secs: u64,
    /// Seconds between HTTP/2 PING frames on a connection with no traffic;
    /// 0 sends none. At most 86400. Default: 20.
    pub h2_keepalive_interval_secs: u64,
    /// Seconds to wait for a PING acknowledgement before closing the
    /// connection. 1 to 86400. Default: 20.
    pub h2_keepalive_timeout_secs: u64,
    /// Most concurrent streams per HTTP/2 connection (advertised in
    /// SETTINGS_MAX_CONCURRENT_STREAMS; also the HTTP/3 stream limit).
    /// 1 to 10000. Default: 128 (nginx's default).
    pub h2_max_concurrent_streams: u32,
    /// Most client connections open at once; a connection over the cap is
    /// accepted and closed at once. At least 1. Default: 16384.
    pub max_connections: usize,
    /// Most client connections open at once from one IP address; handled
    /// like `max_connections`. At least 1. Default: 1024.
    pub max_connections_per_ip: usize,
    /// Largest request head (request line and header fields) in bytes;
    /// larger ones get 431 and the connection is closed. For HTTP/2 it is
    /// the advertised SETTINGS_MAX_HEADER_LIST_SIZE. 1024 to 1048576.
    /// Default: 32768.
    pub max_request_head_bytes: usize,
    /// Most header fields in an HTTP/1.1 request head; more get 431 and the
    /// connection is closed. 1 to 1000. Default: 100.
    pub max_request_headers: usize,
    /// Longest request target in bytes; longer ones get 414 and the
    /// connection is closed. 16 to `max_request_head_bytes`. Default: 8192.
    pub max_uri_bytes: usize,
    /// Seconds a write to a client may stay blocked (the client stopped
    /// reading) before the connection is dropped with its response, which
    /// releases the origin connection behind it. 1 to 86400. Default: 60.
    pub send_timeout_secs: u64,
}

/// `[storage]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Memory tier budget in bytes. Default: 268435456 (256 MiB).
    pub memory_bytes: u64,
    /// Disk tier budget in bytes. Default: 1073741824 (1 GiB).
    pub disk_bytes: u64,
    /// Disk block size in bytes; one entry (an object or one chunk of it) must
    /// fit in a block. Default: 16777216 (16 MiB).
    pub block_bytes: u64,
    /// Bodies longer than this are stored as chunks of this size, read back
    /// only as far as a response needs. From 65536 to 64 KiB below
    /// `block_bytes`. Default: 1048576 (1 MiB).
    pub chunk_bytes: u64,
    /// `insertion` (disk warm after a crash) or `eviction`. Default: `insertion`.
    pub write_policy: WritePolicy,
    /// Memory-tier eviction policy: `s3fifo`, `lru`, `lfu` (W-TinyLFU),
    /// `sieve` or `fifo`. Default: `s3fifo` (chosen by the byte-hit-ratio
    /// study in docs/storage.md).
    pub eviction: EvictionPolicy,
    /// Largest body stored, in bytes; larger responses pass through uncached
    /// (`Cache-Status` detail `too-large`). At most `disk_bytes` / 2.
    /// Default: 268435456 (256 MiB).
    pub max_object_bytes: u64,
}

/// `[cache]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Fraction of (Date - Last-Modified) used as a heuristic lifetime. Default: 0.1.
    pub heuristic_fraction: f64,
    /// Cap on a heuristic lifetime in seconds. Default: 86400.
    pub heuristic_max_secs: u64,
    /// Honour request `Cache-Control`/`Pragma` (no-cache, max-age, min-fresh,
    /// max-stale). Default: true (RFC 9111 behaviour).
    pub honor_request_directives: bool,
    /// RFC 9213 targeted fields, highest precedence first.
    /// `surrogate-control` (W3C Edge Architecture, legacy) is read with its own
    /// syntax and announced upstream with Surrogate-Capability.
    /// Default: `["edgecache-cdn-cache-control", "cdn-cache-control", "surrogate-control"]`.
    pub targeted_fields: Vec<String>,
    /// Remove the targeted fields from responses sent downstream, except
    /// those in `forward_targeted_fields`. Default: true.
    pub strip_targeted_fields: bool,
    /// Targeted fields sent downstream even when `strip_targeted_fields` is
    /// on: RFC 9213 §2 addresses `CDN-Cache-Control` to every CDN cache in a
    /// chain, so a CDN tier behind this node needs it too; a CDN-specific
    /// field (`edgecache-cdn-cache-control`) and the legacy
    /// `surrogate-control` (addressed to the surrogate that consumes it)
    /// stop here. Default: `["cdn-cache-control"]`.
    pub forward_targeted_fields: Vec<String>,
    /// Seconds past its lifetime a stale response may be served when the
    /// origin cannot be reached (connect error, reset, timeout) and the
    /// response has no stale-if-error (RFC 9111 §4.2.4). Default: 3600.
    pub serve_stale_on_origin_down_secs: u64,
    /// Expose the cache key in Cache-Status. Default: false.
    pub expose_key: bool,
    /// Responses carrying Set-Cookie: `pass` never stores them (they go to
    /// their own client uncached); `strip` stores them without their
    /// Set-Cookie fields; `rfc9111` applies plain RFC 9111 §7.3 and replays
    /// the cookie to every client (an explicit opt-in; the conformance run
    /// uses it). Default: `pass`.
    pub set_cookie: SetCookie,
    /// How long a collapsed request waits for the response head of the
    /// request fetching the same object, in milliseconds; it then goes to the
    /// origin itself. Default: 10000.
    pub collapse_timeout_ms: u64,
    /// After a response turns out not to be storable, requests for that key
    /// skip collapsing for this many seconds (hit-for-pass). Default: 30.
    pub hit_for_pass_secs: u64,
    /// Languages `Vary: Accept-Language` is keyed on: a request keys as its
    /// best match in this list (RFC 9110 §12.5.4 q-values), or one default
    /// bucket. Empty: a stored variant whose `Content-Language` is the
    /// request's most preferred language matches it (docs/vary.md).
    /// Default: `[]`.
    pub vary_languages: Vec<String>,
    /// `Vary: User-Agent`: `bucket` keys on mobile / desktop (`Mobi` in the
    /// User-Agent), `ignore` keys every request alike. Never the raw string.
    /// Default: `bucket`.
    pub vary_user_agent: UserAgentRule,
    /// Declared normalisation of other fields a Vary may name (allowed
    /// values, lower-casing). Default: `[]`.
    pub vary_fields: Vec<VaryFieldConfig>,
    /// Most variants stored per URL; storing one more evicts the oldest
    /// (counted in `edgecache_vary_variants_evicted_total`). Default: 32.
    pub max_variants_per_url: usize,
    /// A response field by which the site's own origin purges surrogate
    /// keys (space- or comma-separated), e.g. `Edgecache-Purge-Keys`;
    /// removed from the response before it goes downstream. Default: none
    /// (off: the field is an ordinary header, passed through).
    pub origin_purge_header: Option<String>,
    /// Most keys honoured from one response; the rest are dropped and
    /// counted. Default: 32.
    pub origin_purge_max_keys: usize,
    /// Longest key honoured from a response, in bytes; longer keys are
    /// dropped and counted. Default: 256.
    pub origin_purge_max_key_bytes: usize,
    /// A GET with Range that misses fetches the whole object (no Range to
    /// the origin), stores it, and streams the asked range to the client as
    /// its bytes arrive, so later ranges are hits. Off: the Range is
    /// forwarded as the client sent it. Default: true.
    pub range_fill: bool,
    /// Size of the slices a large object is fetched in for Range requests,
    /// in bytes; 0 turns slicing off. At most `storage.chunk_bytes`.
    /// Default: 1048576 (1 MiB).
    pub slice_bytes: u64,
    /// Objects longer than this (bytes) are fetched in slices for Range
    /// requests instead of whole. Default: 16777216 (16 MiB).
    pub slice_above_bytes: u64,
}

/// `[upstream]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// TCP connect timeout in milliseconds. Default: 3000.
    pub connect_timeout_ms: u64,
    /// Time to the response head in milliseconds; 504 after. Default: 30000.
    pub first_byte_timeout_ms: u64,
    /// Longest gap between two body chunks from the origin, in milliseconds;
    /// the response is then cut and not stored. 0 turns it off. Default: 30000.
    pub idle_timeout_ms: u64,
    /// Longest whole origin exchange (head and body), in milliseconds. 0 turns
    /// it off. Default: 0 (off: large objects may take long).
    pub total_timeout_ms: u64,
    /// Most requests in flight to one origin at once (per-tenant isolation,
    /// so a slow origin cannot take every connection); 0 is unlimited.
    /// `[[sites]] max_concurrency` overrides it per site. Default: 0.
    pub max_concurrency: usize,
    /// How long a request may queue for an origin's concurrency slot before
    /// it gets 503 with Retry-After (or a stale copy). Default: 1000.
    pub queue_timeout_ms: u64,
    /// Retries of a bodiless idempotent request (GET, HEAD, OPTIONS...) after
    /// a connection failure before any response byte, with exponential
    /// backoff and jitter. Default: 1.
    pub retries: u32,
    /// Retries may add at most this percentage to origin load (a budget
    /// refilled by ordinary requests). Default: 20.
    pub retry_budget_percent: u64,
    /// How requests spread over an origin's servers: `least_outstanding`
    /// (power of two choices) or `round_robin`. Default: `least_outstanding`.
    pub balance: crate::proxy::pool::Balance,
    /// Consecutive failures (connect errors, timeouts, 5xx) that open a
    /// server's circuit breaker. Default: 5.
    pub breaker_failures: u32,
    /// Seconds an open breaker refuses requests before one probe is let
    /// through (a success closes it). Default: 10.
    pub breaker_cooldown_secs: u64,
    /// Path for active health checks of every origin server (a non-5xx
    /// answer within 2 s is healthy); none disables them. Default: none.
    pub health_check_path: Option<String>,
    /// Seconds between active health checks. Default: 5.
    pub health_check_interval_secs: u64,
    /// Seconds an idle pooled connection is kept: below the origin's own
    /// keep-alive timeout (Node.js and Apache close after 5 s). Default: 4.
    pub pool_idle_timeout_secs: u64,
    /// Idle pooled connections kept per origin server. Default: 256.
    pub pool_max_idle_per_host: usize,
    /// Send the client's Host upstream (else the origin's authority). Default: true.
    pub preserve_host: bool,
    /// Append the client address to X-Forwarded-For. Default: true.
    pub x_forwarded_for: bool,
    /// Set X-Forwarded-Proto to the client's scheme. Default: true.
    pub x_forwarded_proto: bool,
    /// Request fields forwarded to the origin although they are normally
    /// removed as unkeyed (X-Forwarded-Host, X-Original-URL, ... : the list
    /// is in docs/security.md). Each one named here also joins the cache
    /// key, as if every response varied on it. Default: `[]`.
    pub forward_fields: Vec<String>,
    /// Networks (CIDR) of proxies in front of this node whose
    /// X-Forwarded-Proto and Forwarded fields are passed on; from any other
    /// client they are removed and the node sets X-Forwarded-Proto itself.
    /// Default: `[]`.
    pub trusted_proxies: Vec<String>,
    /// How the node speaks to origins: `http1` (HTTP/1.1), `h2c` (HTTP/2
    /// with prior knowledge, plaintext `http://` origins only) or `h2`
    /// (HTTP/2 over TLS chosen by ALPN, `https://` origins only; falls back
    /// to HTTP/1.1 when the origin does not offer h2). `[[sites]] protocol`
    /// overrides it. Default: `http1`.
    pub protocol: crate::proxy::origin_conns::Protocol,
    /// PEM file of CA certificates trusted for `https://` origins, instead
    /// of the system roots. `[[sites]] tls_ca_file` overrides it. Default:
    /// none (the system roots).
    pub tls_ca_file: Option<PathBuf>,
    /// Check `https://` origins' certificates (chain and name). `false`
    /// accepts any certificate (a loud warning is logged per origin at
    /// start-up); `[[sites]] tls_verify` overrides it. Default: true.
    pub tls_verify: bool,
}

/// One `[[sites]]` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The site's name in metrics and logs. Default: its first host.
    pub name: Option<String>,
    /// Host names served by this site (no port; case-insensitive). Required.
    pub hosts: Vec<String>,
    /// Origin URL, `http://host:port`, or several comma-separated servers. Required.
    pub origin: String,
    /// Honour request cache directives for this site. Default: the
    /// `[cache] honor_request_directives` value.
    pub honor_request_directives: Option<bool>,
    /// `pass`, `strip` or `rfc9111` for this site. Default: the `[cache] set_cookie` value.
    pub set_cookie: Option<SetCookie>,
    /// Upstream concurrency limit for this site's origin. Default: `[upstream] max_concurrency`.
    pub max_concurrency: Option<usize>,
    /// Accept WebSocket upgrades for this site. Default: the `[websocket] enabled` value.
    pub websocket: Option<bool>,
    /// Log this site's requests. Default: the `[access_log] enabled` value.
    pub access_log: Option<bool>,
    /// Fraction of this site's requests logged. Default: the `[access_log] sample` value.
    pub access_log_sample: Option<f64>,
    /// `http1`, `h2c` or `h2` for this site's origin (see `[upstream]
    /// protocol`). Default: the `[upstream] protocol` value.
    pub protocol: Option<crate::proxy::origin_conns::Protocol>,
    /// PEM file of CA certificates trusted for this site's `https://`
    /// origin, instead of the system roots. Default: the `[upstream]
    /// tls_ca_file` value.
    pub tls_ca_file: Option<PathBuf>,
    /// Check this site's `https://` origin certificate. Default: the
    /// `[upstream] tls_verify` value.
    pub tls_verify: Option<bool>,
    /// Name sent in SNI and checked against the origin's certificate.
    /// Default: the host of the origin URL.
    pub tls_server_name: Option<String>,
    /// Languages Accept-Language is keyed on for this site. Default: the
    /// `[cache] vary_languages` value.
    pub vary_languages: Option<Vec<String>>,
    /// `bucket` or `ignore` for this site. Default: the `[cache]
    /// vary_user_agent` value.
    pub vary_user_agent: Option<UserAgentRule>,
    /// Declared normalisation of other fields for this site (replaces the
    /// whole `[cache]` list). Default: the `[cache] vary_fields` value.
    pub vary_fields: Option<Vec<VaryFieldConfig>>,
    /// Most variants stored per URL of this site. Default: the `[cache]
    /// max_variants_per_url` value.
    pub max_variants_per_url: Option<usize>,
    /// The origin-purge field for this site's origin; `""` turns it off.
    /// Default: the `[cache] origin_purge_header` value.
    pub origin_purge_header: Option<String>,
    /// This site's `[compression]` overrides, e.g. `compression = {
    /// enabled = false }`. Default: none (the `[compression]` values).
    #[serde(default)]
    pub compression: CompressionOverride,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("edgecache-data"),
            drain_timeout_secs: 30,
            cache_name: "edgecache".into(),
            header_read_timeout_secs: 30,
            runtime: Runtime::MultiThread,
            worker_threads: 0,
            first_bytes_timeout_secs: 10,
            h2_idle_timeout_secs: 60,
            h2_keepalive_interval_secs: 20,
            h2_keepalive_timeout_secs: 20,
            h2_max_concurrent_streams: 128,
            max_connections: 16384,
            max_connections_per_ip: 1024,
            max_request_head_bytes: 32 << 10,
            max_request_headers: 100,
            max_uri_bytes: 8192,
            send_timeout_secs: 60,
        }
    }
}

/// Longest duration setting, in seconds: one day, far from where
/// `Instant + Duration` could overflow.
const MAX_DURATION_SECS: u64 = 86_400;

impl ServerConfig {
    /// Check the connection limits and timeouts; the error names the field.
    fn validate(&self) -> Result<(), ConfigError> {
        for (field, secs, min) in [
            ("server.drain_timeout_secs", self.drain_timeout_secs, 0),
            (
                "server.header_read_timeout_secs",
                self.header_read_timeout_secs,
                1,
            ),
            (
                "server.first_bytes_timeout_secs",
                self.first_bytes_timeout_secs,
                1,
            ),
            ("server.h2_idle_timeout_secs", self.h2_idle_timeout_secs, 1),
            (
                "server.h2_keepalive_interval_secs",
                self.h2_keepalive_interval_secs,
                0,
            ),
            (
                "server.h2_keepalive_timeout_secs",
                self.h2_keepalive_timeout_secs,
                1,
            ),
            ("server.send_timeout_secs", self.send_timeout_secs, 1),
        ] {
            if !(min..=MAX_DURATION_SECS).contains(&secs) {
                return Err(invalid(
                    field,
                    format!("must be between {min} and {MAX_DURATION_SECS} seconds"),
                ));
            }
        }
        if !(1..=10_000).contains(&self.h2_max_concurrent_streams) {
            return Err(invalid(
                "server.h2_max_concurrent_streams",
                "must be between 1 and 10000",
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        if self.max_connections_per_ip == 0 {
            return Err(invalid(
                "server.max_connections_per_ip",
                "must be at least 1",
            ));
        }
        if !(1024..=1 << 20).contains(&self.max_request_head_bytes) {
            return Err(invalid(
                "server.max_request_head_bytes",
                "must be between 1024 and 1048576",
            ));
        }
        if !(1..=1000).contains(&self.max_request_headers) {
            return Err(invalid(
                "server.max_request_headers",
                "must be between 1 and 1000",
            ));
        }
        if !(16..=self.max_request_head_bytes).contains(&self.max_uri_bytes) {
            return Err(invalid(
                "server.max_uri_bytes",
                "must be between 16 and server.max_request_head_bytes",
            ));
        }
        Ok(())
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            memory_bytes: 256 << 20,
            disk_bytes: 1 << 30,
            block_bytes: 16 << 20,
            chunk_bytes: 1 << 20,
            write_policy: WritePolicy::Insertion,
            eviction: EvictionPolicy::S3fifo,
            max_object_bytes: 256 << 20,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            heuristic_fraction: 0.1,
            heuristic_max_secs: 86_400,
            honor_request_directives: true,
            targeted_fields: vec![
                "edgecache-cdn-cache-control".into(),
                "cdn-cache-control".into(),
                "surrogate-control".into(),
            ],
            strip_targeted_fields: true,
            forward_targeted_fields: vec!["cdn-cache-control".into()],
            serve_stale_on_origin_down_secs: 3600,
            expose_key: false,
            set_cookie: SetCookie::Pass,
            collapse_timeout_ms: 10_000,
            hit_for_pass_secs: 30,
            vary_languages: Vec::new(),
            vary_user_agent: UserAgentRule::Bucket,
            vary_fields: Vec::new(),
            max_variants_per_url: 32,
            origin_purge_header: None,
            origin_purge_max_keys: 32,
            origin_purge_max_key_bytes: 256,
            range_fill: true,
            slice_bytes: 1 << 20,
            slice_above_bytes: 16 << 20,
        }
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            connect_timeout_ms: 3000,
            first_byte_timeout_ms: 30_000,
            idle_timeout_ms: 30_000,
            max_concurrency: 0,
            queue_timeout_ms: 1000,
            retries: 1,
            retry_budget_percent: 20,
            balance: crate::proxy::pool::Balance::LeastOutstanding,
            forward_fields: Vec::new(),
            trusted_proxies: Vec::new(),
            breaker_failures: 5,
            breaker_cooldown_secs: 10,
            health_check_path: None,
            health_check_interval_secs: 5,
            total_timeout_ms: 0,
            pool_idle_timeout_secs: 4,
            pool_max_idle_per_host: 256,
            preserve_host: true,
            x_forwarded_for: true,
            x_forwarded_proto: true,
            protocol: crate::proxy::origin_conns::Protocol::Http1,
            tls_ca_file: None,
            tls_verify: true,
        }
    }
}

/// A configuration error, naming the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the field.
        message: String,
    },
    /// A value is out of range.
    #[error("config field `{field}`: {message}")]
    Invalid {
        /// Dotted field path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Parse an origin: one `http(s)://host[:port]`, or several separated by commas
/// (a pool of servers).
pub fn parse_origins(field: &str, list: &str) -> Result<Vec<http::Uri>, ConfigError> {
    let servers = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_origin(field, s))
        .collect::<Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err(invalid(field, "names no server"));
    }
    Ok(servers)
}

/// Check that `url` is an origin the node can use: `http://host[:port]` or
/// `https://host[:port]`, with no path.
pub fn parse_origin(field: &str, url: &str) -> Result<http::Uri, ConfigError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| invalid(field, format!("`{url}` is not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(invalid(
                field,
                format!("scheme `{other}` is not supported; use http:// or https://"),
            ));
        }
        None => {
            return Err(invalid(
                field,
                format!("`{url}` needs a scheme, e.g. http://{url}"),
            ));
        }
    }
    if uri.authority().is_none() {
        return Err(invalid(field, format!("`{url}` has no host")));
    }
    if uri
        .path_and_query()
        .is_some_and(|pq| pq.as_str() != "/" && !pq.as_str().is_empty())
    {
        return Err(invalid(field, format!("`{url}` must not have a path")));
    }
    Ok(uri)
}

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg: Config = toml::from_str(&text).map_err(|e| {
            let message = e.to_string().lines().collect::<Vec<_>>().join(" ");
            ConfigError::Parse {
                path: path.to_path_buf(),
                message: match e.span().and_then(|s| field_at(&text, s.start)) {
                    Some(field) => format!("field `{field}`: {message}"),
                    None => message,
                },
            }
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Check every value; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(o) = &self.origin {
            let servers = parse_origins("origin", o)?;
            origin_protocol::check(&self.upstream.protocol, "upstream.protocol", &servers)?;
        }
        origin_protocol::check_ca_file(
            "upstream.tls_ca_file",
            self.upstream.tls_ca_file.as_deref(),
        )?;
        for (i, s) in self.sites.iter().enumerate() {
            if s.hosts.is_empty() {
                return Err(invalid(
                    format!("sites[{i}].hosts"),
                    "must list at least one host",
                ));
            }
            if let Some(h) = s
                .hosts
                .iter()
                .find(|h| h.is_empty() || h.contains(['/', ' ']))
            {
                return Err(invalid(
                    format!("sites[{i}].hosts"),
                    format!("`{h}` is not a host name"),
                ));
            }
            let servers = parse_origins(&format!("sites[{i}].origin"), &s.origin)?;
            self.compression
                .with(&s.compression)
                .validate(&format!("sites[{i}].compression"))?;
            origin_protocol::check_site(i, s, &self.upstream, &servers)?;
            vary::check(
                &format!("sites[{i}]"),
                s.vary_languages.as_deref(),
                s.vary_fields.as_deref(),
                s.max_variants_per_url,
                s.origin_purge_header.as_deref(),
                true,
            )?;
            if let Some(v) = s.access_log_sample {
                access_log::check_sample(&format!("sites[{i}].access_log_sample"), v)?;
            }
            if let Some(n) = &s.name
                && (n.is_empty() || n.len() > 128 || n.chars().any(|c| c.is_control()))
            {
                return Err(invalid(
                    format!("sites[{i}].name"),
                    "must be 1 to 128 characters, none of them control characters",
                ));
            }
        }
        let c = &self.cache;
        vary::check(
            "cache",
            Some(&c.vary_languages),
            Some(&c.vary_fields),
            Some(c.max_variants_per_url),
            c.origin_purge_header.as_deref(),
            false,
        )?;
        vary::check_limits(c)?;
        self.server.validate()?;
        for (i, h) in self.https.iter().enumerate() {
            h.validate(i, self.server.listen)?;
            if h.listen.port() != 0 && self.https[..i].iter().any(|o| o.listen == h.listen) {
                return Err(invalid(
                    format!("https[{i}].listen"),
                    format!("{} is used by another [[https]] listener", h.listen),
                ));
            }
        }
        self.websocket.validate()?;
        self.compression.validate("compression")?;
        self.access_log.validate()?;
        self.tracing.validate()?;
        self.fleet.validate()?;
        self.tier.validate()?;
        let st = &self.storage;
        if st.memory_bytes < (1 << 20) {
            return Err(invalid(
                "storage.memory_bytes",
                "must be at least 1048576 (1 MiB)",
            ));
        }
        if !(64 << 10..=1 << 30).contains(&st.block_bytes) {
            return Err(invalid(
                "storage.block_bytes",
                "must be between 65536 and 1073741824",
            ));
        }
        if st.disk_bytes < 2 * st.block_bytes {
            return Err(invalid(
                "storage.disk_bytes",
                "must hold at least two blocks (2 * storage.block_bytes)",
            ));
        }
        if st.chunk_bytes < (64 << 10) || st.chunk_bytes + (64 << 10) > st.block_bytes {
            return Err(invalid(
                "storage.chunk_bytes",
                "must be at least 65536 and at least 64 KiB below storage.block_bytes",
            ));
        }
        if st.max_object_bytes > st.disk_bytes / 2 {
            return Err(invalid(
                "storage.max_object_bytes",
                "must be at most half of storage.disk_bytes",
            ));
        }
        let c = &self.cache;
        if !(0.0..=1.0).contains(&c.heuristic_fraction) {
            return Err(invalid(
                "cache.heuristic_fraction",
                "must be between 0.0 and 1.0",
            ));
        }
        if c.slice_bytes != 0 && (c.slice_bytes < (64 << 10) || c.slice_bytes > st.chunk_bytes) {
            return Err(invalid(
                "cache.slice_bytes",
                "must be 0 (off) or between 65536 and storage.chunk_bytes",
            ));
        }
        if c.slice_bytes != 0 && c.slice_above_bytes < c.slice_bytes {
            return Err(invalid(
                "cache.slice_above_bytes",
                "must be at least cache.slice_bytes",
            ));
        }
        if let Some(f) = c
            .targeted_fields
            .iter()
            .find(|f| http::HeaderName::from_bytes(f.as_bytes()).is_err())
        {
            return Err(invalid(
                "cache.targeted_fields",
                format!("`{f}` is not a header field name"),
            ));
        }
        if self.server.cache_name.is_empty() || self.server.cache_name.contains(['"', ',', '\n']) {
            return Err(invalid(
                "server.cache_name",
                "must be non-empty, without quotes or commas",
            ));
        }
        for (i, f) in self.purge.key_fields.iter().enumerate() {
            if http::HeaderName::from_bytes(f.name.as_bytes()).is_err() {
                return Err(invalid(
                    format!("purge.key_fields[{i}].name"),
                    format!("`{}` is not a field name", f.name),
                ));
            }
            if f.separator.chars().count() != 1 {
                return Err(invalid(
                    format!("purge.key_fields[{i}].separator"),
                    "must be exactly one character",
                ));
            }
        }
        for (field, value) in [
            ("purge.max_keys_per_object", self.purge.max_keys_per_object),
            ("purge.max_key_bytes", self.purge.max_key_bytes),
            ("purge.max_batch", self.purge.max_batch),
            ("purge.max_hosts", self.purge.max_hosts),
            ("purge.max_body_bytes", self.purge.max_body_bytes),
        ] {
            if value == 0 {
                return Err(invalid(field, "must be above 0"));
            }
        }
        for (i, c) in self.purge.public_purge_cidrs.iter().enumerate() {
            crate::cidr::Cidr::parse(c).map_err(|m| {
                invalid(
                    format!("purge.public_purge_cidrs[{i}]"),
                    format!("`{c}`: {m}"),
                )
            })?;
        }
        for (i, t) in self.admin.tokens.iter().enumerate() {
            if t.token.len() < 16 {
                return Err(invalid(
                    format!("admin.tokens[{i}].token"),
                    "must be at least 16 characters",
                ));
            }
            if t.hosts.is_empty() {
                return Err(invalid(
                    format!("admin.tokens[{i}].hosts"),
                    "must list at least one host, or \"*\"",
                ));
            }
        }
        if self.upstream.breaker_failures == 0 {
            return Err(invalid("upstream.breaker_failures", "must be at least 1"));
        }
        if self
            .upstream
            .health_check_path
            .as_deref()
            .is_some_and(|p| !p.starts_with('/'))
        {
            return Err(invalid("upstream.health_check_path", "must start with `/`"));
        }
        if self.upstream.connect_timeout_ms == 0 {
            return Err(invalid("upstream.connect_timeout_ms", "must be above 0"));
        }
        if self.upstream.first_byte_timeout_ms == 0 {
            return Err(invalid("upstream.first_byte_timeout_ms", "must be above 0"));
        }
        for (i, f) in self.upstream.forward_fields.iter().enumerate() {
            if http::HeaderName::from_bytes(f.as_bytes()).is_err() {
                return Err(invalid(
                    format!("upstream.forward_fields[{i}]"),
                    format!("`{f}` is not a header field name"),
                ));
            }
        }
        for (i, c) in self.upstream.trusted_proxies.iter().enumerate() {
            crate::cidr::Cidr::parse(c).map_err(|m| {
                invalid(
                    format!("upstream.trusted_proxies[{i}]"),
                    format!("`{c}`: {m}"),
                )
            })?;
        }
        self.validate_durations()
    }

    /// Durations are added to `Instant`s, which panics on overflow: every
    /// duration field is bounded (one year is far beyond any sensible value).
    fn validate_durations(&self) -> Result<(), ConfigError> {
        const YEAR_SECS: u64 = 365 * 86_400;
        let (u, c, s) = (&self.upstream, &self.cache, &self.server);
        let secs = [
            ("server.drain_timeout_secs", s.drain_timeout_secs),
            (
                "server.header_read_timeout_secs",
                s.header_read_timeout_secs,
            ),
            (
                "cache.serve_stale_on_origin_down_secs",
                c.serve_stale_on_origin_down_secs,
            ),
            ("cache.hit_for_pass_secs", c.hit_for_pass_secs),
            ("cache.heuristic_max_secs", c.heuristic_max_secs),
            ("upstream.breaker_cooldown_secs", u.breaker_cooldown_secs),
            (
                "upstream.health_check_interval_secs",
                u.health_check_interval_secs,
            ),
            ("upstream.pool_idle_timeout_secs", u.pool_idle_timeout_secs),
        ];
        let millis = [
            ("cache.collapse_timeout_ms", c.collapse_timeout_ms),
            ("upstream.connect_timeout_ms", u.connect_timeout_ms),
            ("upstream.first_byte_timeout_ms", u.first_byte_timeout_ms),
            ("upstream.idle_timeout_ms", u.idle_timeout_ms),
            ("upstream.total_timeout_ms", u.total_timeout_ms),
            ("upstream.queue_timeout_ms", u.queue_timeout_ms),
        ];
        let too_long = secs
            .into_iter()
            .find(|(_, v)| *v > YEAR_SECS)
            .or_else(|| millis.into_iter().find(|(_, v)| *v > YEAR_SECS * 1000));
        match too_long {
            Some((field, _)) => Err(invalid(field, "must be at most one year")),
            None => Ok(()),
        }
    }
}

/// The async runtime (`[server] runtime`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    /// One worker per CPU the process may use. The default.
    #[default]
    MultiThread,
    /// One thread.
    CurrentThread,
}

/// When the disk tier is written (`[storage] write_policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WritePolicy {
    /// On insertion: the disk is warm after a crash. The default.
    #[default]
    Insertion,
    /// When the memory tier evicts (fewer disk writes; lost on a crash).
    Eviction,
}

/// The memory tier's eviction policy (`[storage] eviction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvictionPolicy {
    /// S3-FIFO. The default (docs/storage.md has the study that chose it).
    #[default]
    S3fifo,
    /// Least recently used.
    Lru,
    /// W-TinyLFU.
    Lfu,
    /// SIEVE.
    Sieve,
    /// First in, first out.
    Fifo,
}

impl From<WritePolicy> for storage::WritePolicy {
    fn from(w: WritePolicy) -> Self {
        match w {
            WritePolicy::Insertion => storage::WritePolicy::OnInsertion,
            WritePolicy::Eviction => storage::WritePolicy::OnEviction,
        }
    }
}

impl From<EvictionPolicy> for storage::Eviction {
    fn from(e: EvictionPolicy) -> Self {
        match e {
            EvictionPolicy::S3fifo => storage::Eviction::S3Fifo,
            EvictionPolicy::Lru => storage::Eviction::Lru,
            EvictionPolicy::Lfu => storage::Eviction::Lfu,
            EvictionPolicy::Sieve => storage::Eviction::Sieve,
            EvictionPolicy::Fifo => storage::Eviction::Fifo,
        }
    }
}

/// The dotted name of the field whose value starts at byte `offset` of a
/// TOML text (`storage.write_policy`, `sites[1].set_cookie`), so a parse
/// error names the field the way validation errors do.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..)?.lines().next()?;
    let key = line.split_once('=')?.0.trim();
    let mut table = None;
    let mut arrays: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for l in before[..line_start].lines().map(str::trim) {
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
            let n = arrays.entry(name).or_insert(0);
            table = Some(format!("{name}[{n}]"));
            *n += 1;
        } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            table = Some(name.to_string());
        }
    }
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped example parses, validates, and every field in it is documented.
    #[test]
    fn example_config_is_valid_and_documented() {
        let text = include_str!("../edgecache.example.toml");
        let cfg: Config = toml::from_str(text).expect("example parses");
        cfg.validate().expect("example validates");
        let docs = include_str!("../docs/config.md");
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(" = "))
        {
            let field = line.split(" = ").next().unwrap_or("").trim();
            assert!(
                docs.contains(&format!("`{field}`")),
                "docs/config.md does not document `{field}`"
            );
        }
    }

    #[test]
    fn default_config_is_valid() {
        Config::default().validate().expect("defaults are valid");
    }

    /// Validation errors name the field at fault.
    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("origin = \"ftp://x\"", "origin"),
            (
                "origin = \"http://x\"\n[upstream]\nprotocol = \"h2\"",
                "upstream.protocol",
            ),
            ("[upstream]\nprotocol = \"h3\"", "protocol"),
            (
                "[upstream]\ntls_ca_file = \"/no/such/ca.pem\"",
                "upstream.tls_ca_file",
            ),
            (
                "[[sites]]\nhosts = [\"a\"]\norigin = \"http://a\"\nprotocol = \"h2\"",
                "sites[0].protocol",
            ),
            (
                "[[sites]]\nhosts = [\"a\"]\norigin = \"https://a\"\nprotocol = \"h2c\"",
                "sites[0].protocol",
            ),
            (
                "[[sites]]\nhosts = [\"a\"]\norigin = \"https://a\"\ntls_server_name = \"bad name\"",
                "sites[0].tls_server_name",
            ),
            ("origin = \"http://x/path\"", "origin"),
            (
                "[[https]]\nlisten = \"127.0.0.1:8443\"",
                "https[0].certificates",
            ),
            (
                "[server]\nlisten = \"127.0.0.1:8443\"\n[[https]]\nlisten = \"127.0.0.1:8443\"\nself_signed = true",
                "https[0].listen",
            ),
            (
                "[[https]]\nlisten = \"127.0.0.1:8443\"\nself_signed = true\nhandshake_timeout_secs = 0",
                "https[0].handshake_timeout_secs",
            ),
            (
                "[[https]]\nlisten = \"127.0.0.1:8443\"\nself_signed = true\nmin_tls_version = \"1.1\"",
                "min_tls_version",
            ),
            ("[storage]\nmemory_bytes = 5", "storage.memory_bytes"),
            (
                "[storage]\nwrite_policy = \"sometimes\"",
                "storage.write_policy",
            ),
            ("[storage]\neviction = \"random\"", "storage.eviction"),
            ("[storage]\nchunk_bytes = 1024", "storage.chunk_bytes"),
            (
                "[storage]\nmax_object_bytes = 4294967296",
                "storage.max_object_bytes",
            ),
            (
                "[cache]\nheuristic_fraction = 2.0",
                "cache.heuristic_fraction",
            ),
            (
                "[[sites]]\nhosts = []\norigin = \"http://a\"",
                "sites[0].hosts",
            ),
            (
                "[[sites]]\nhosts = [\"a\"]\norigin = \"nope nope\"",
                "sites[0].origin",
            ),
            ("[server]\nlisten = \"not an address\"", "listen"),
            ("[server]\nbogus = 1", "bogus"),
            ("[cache]\nset_cookie = \"explicit\"", "set_cookie"),
            ("[cache]\nvary_user_agent = \"raw\"", "vary_user_agent"),
            (
                "[cache]\nvary_languages = [\"en us\"]",
                "cache.vary_languages[0]",
            ),
            (
                "[[cache.vary_fields]]\nname = \"User-Agent\"",
                "cache.vary_fields[0].name",
            ),
            (
                "[cache]\nmax_variants_per_url = 0",
                "cache.max_variants_per_url",
            ),
            (
                "[cache]\norigin_purge_header = \"\"",
                "cache.origin_purge_header",
            ),
            (
                "[cache]\norigin_purge_max_keys = 0",
                "cache.origin_purge_max_keys",
            ),
            (
                "[[sites]]\nhosts = [\"a\"]\norigin = \"http://a\"\nmax_variants_per_url = 0",
                "sites[0].max_variants_per_url",
            ),
            (
                "[upstream]\nfirst_byte_timeout_ms = 0",
                "upstream.first_byte_timeout_ms",
            ),
            (
                "[upstream]\nforward_fields = [\"bad name\"]",
                "upstream.forward_fields[0]",
            ),
            (
                "[upstream]\ntrusted_proxies = [\"10.0.0.0/99\"]",
                "upstream.trusted_proxies[0]",
            ),
            // Would overflow `Instant + Duration` (a panic) if accepted.
            (
                "[upstream]\nbreaker_cooldown_secs = 9223372036854775807",
                "upstream.breaker_cooldown_secs",
            ),
            (
                "[cache]\nhit_for_pass_secs = 9223372036854775807",
                "cache.hit_for_pass_secs",
            ),
            (
                "[upstream]\ntotal_timeout_ms = 9223372036854775807",
                "upstream.total_timeout_ms",
            ),
        ];
        for (toml_text, field) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            let p = dir.path().join("c.toml");
            std::fs::write(&p, toml_text).expect("write");
            let err = Config::load(&p).expect_err(toml_text).to_string();
            assert!(
                err.contains(field),
                "{toml_text:?}: error {err:?} should name {field}"
            );
        }
    }
}
