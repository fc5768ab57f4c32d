//! `[server]`: listeners, process and connection settings.

use super::{ConfigError, invalid};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
