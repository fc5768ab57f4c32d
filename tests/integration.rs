//! The integration tests, one binary: each module is one file of tests/
//! (tests/<module>.rs) against the real node, a real origin on
//! 127.0.0.1:0, real sockets and real disk. One binary instead of one per
//! file keeps the build small: every test binary links the whole node.
//! `slow_reader_memory` (it measures this process's resident memory) and
//! `cli` (the command-line client) stay binaries of their own.

mod grpc_origin;
mod support;

mod access_log;
mod bad_origin;
mod cache_behaviour;
mod collapse;
mod collapse_safety;
mod connections;
mod degraded;
mod encoding_forms;
mod encodings;
mod fleet;
mod framing;
mod grpc;
mod grpc_tls;
mod isolation;
mod keepalive_race;
mod large_objects;
mod method_caching;
mod metrics;
mod origin_h2c;
mod origin_purge;
mod origin_tls;
mod parsers_prop;
mod poisoning;
mod pool;
mod process_lifecycle;
mod protocols;
mod purge;
mod purge_hardening;
mod range_fill;
mod ranges;
mod reload;
mod request_directives;
mod sd_notify;
mod slice_safety;
mod stale;
mod targeted_cache_control;
mod tiered;
mod timeouts;
mod tls;
mod tracing;
mod vary_normalise;
mod websocket;
