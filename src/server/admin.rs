//! The admin listener (loopback by default): the purge API, `/health` and
//! Prometheus `/metrics`.

use crate::proxy::Node;
use crate::purger::NodePurger;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use purge_api::{ApiConfig, Token, Tokens};
use std::fmt::Write;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The admin router for `node`.
pub fn router(node: Arc<Node>) -> Router {
    let tokens = node
        .cfg
        .admin
        .tokens
        .iter()
        .map(|t| Token::new(&t.token, t.hosts.clone()))
        .collect();
    let api = ApiConfig {
        tokens: Tokens::new(tokens),
        max_batch: node.cfg.purge.max_batch,
        max_hosts: node.cfg.purge.max_hosts,
        max_key_bytes: node.cfg.purge.max_key_bytes,
        max_body_bytes: node.cfg.purge.max_body_bytes,
    };
    purge_api::router(Arc::new(NodePurger::new(node.clone())), api).merge(
        Router::new()
            .route("/health", get(|| async { "ok\n" }))
            .route("/metrics", get(metrics))
            .route(
                "/admin/tls/reload",
                axum::routing::post(reload_certificates),
            )
            .with_state(node),
    )
}

/// Serve the admin router on `listener` until `shutdown`, then let open
/// connections finish. Served with hyper's HTTP/1 connection builder (not
/// `axum::serve`) so a client gets the same header-read timeout as on the
/// public listener (`server.header_read_timeout_secs`): one that never
/// finishes its request head is disconnected.
pub async fn serve(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(
            node.cfg.server.header_read_timeout_secs,
        ))
        .keep_alive(true);
    let service = TowerToHyperService::new(router(node));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = super::listener::accept(&listener, "admin accept failed") => {
                let Some((stream, peer)) = accepted else {
                    continue;
                };
                let conn = builder.serve_connection(TokioIo::new(stream), service.clone());
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, %peer, "admin connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn metrics(State(node): State<Arc<Node>>) -> String {
    let s = node.store.stats();
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, kind: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP edgecache_{name} {help}\n# TYPE edgecache_{name} {kind}\nedgecache_{name} {v}"
        );
    };
    counter(
        "store_memory_hits_total",
        "Lookups answered from the memory tier.",
        "counter",
        s.memory_hits,
    );
    counter(
        "store_disk_hits_total",
        "Lookups answered from the disk tier.",
        "counter",
        s.disk_hits,
    );
    counter(
        "store_misses_total",
        "Lookups that found nothing.",
        "counter",
        s.misses,
    );
    counter(
        "store_inserts_total",
        "Objects stored.",
        "counter",
        s.inserts,
    );
    counter(
        "store_removes_total",
        "Objects removed.",
        "counter",
        s.removes,
    );
    counter(
        "store_checksum_failures_total",
        "Damaged disk entries found.",
        "counter",
        s.checksum_failures,
    );
    counter(
        "store_read_errors_total",
        "Disk reads that failed.",
        "counter",
        s.read_errors,
    );
    counter(
        "store_oversize_rejects_total",
        "Objects too large to store.",
        "counter",
        s.oversize_rejects,
    );
    counter(
        "store_chunked_objects_total",
        "Objects stored in chunks (bodies longer than storage.chunk_bytes).",
        "counter",
        s.chunked_objects,
    );
    counter(
        "store_lost_chunks_total",
        "Chunks of a stored object found missing while serving it (the response is cut, the object removed).",
        "counter",
        s.lost_chunks,
    );
    counter(
        "store_disk_write_drops_total",
        "Disk writes the store dropped because its write queue or buffers were full (the object stays in memory only).",
        "counter",
        s.disk_write_drops,
    );
    counter(
        "store_disk_writes_total",
        "Entries submitted to the disk tier for writing.",
        "counter",
        s.disk_writes_enqueued,
    );
    counter(
        "store_memory_bytes",
        "Bytes held by the memory tier.",
        "gauge",
        s.memory_bytes,
    );
    counter(
        "store_disk_enabled",
        "1 when the disk tier is in use, 0 when it could not be opened.",
        "gauge",
        u64::from(node.store.disk_disabled().is_none()),
    );
    counter(
        "purge_sequence",
        "Purges recorded so far.",
        "counter",
        node.purge.current_seq(),
    );
    counter(
        "upstream_overloaded_total",
        "Requests refused because their origin was at its concurrency limit.",
        "counter",
        node.upstream.overloaded.load(Ordering::Relaxed),
    );
    counter(
        "upstream_retries_total",
        "Idempotent requests retried after a connection failure.",
        "counter",
        node.upstream.retries.load(Ordering::Relaxed),
    );
    let t = &node.upstream.timeouts;
    counter(
        "upstream_head_timeouts_total",
        "Origin response heads that missed the first-byte or total deadline.",
        "counter",
        t.head.load(Ordering::Relaxed),
    );
    counter(
        "upstream_idle_timeouts_total",
        "Origin bodies cut for idling.",
        "counter",
        t.idle.load(Ordering::Relaxed),
    );
    counter(
        "upstream_total_timeouts_total",
        "Origin exchanges cut at the total deadline.",
        "counter",
        t.total.load(Ordering::Relaxed),
    );
    let ws = &node.tunnels;
    counter(
        "websocket_tunnels_opened_total",
        "WebSocket tunnels established (the origin switched protocols).",
        "counter",
        ws.opened.load(Ordering::Relaxed),
    );
    counter(
        "websocket_tunnels_refused_total",
        "WebSocket handshakes refused by a tunnel limit (503).",
        "counter",
        ws.refused.load(Ordering::Relaxed),
    );
    counter(
        "websocket_tunnels_closed_idle_total",
        "WebSocket tunnels closed by websocket.idle_timeout_secs.",
        "counter",
        ws.closed_idle.load(Ordering::Relaxed),
    );
    counter(
        "websocket_tunnels_open",
        "WebSocket tunnels open now (handshakes in progress included).",
        "gauge",
        ws.open() as u64,
    );
    let tr = &node.tracer;
    counter(
        "trace_spans_exported_total",
        "Spans the OTLP collector accepted.",
        "counter",
        tr.spans_exported.load(Ordering::Relaxed),
    );
    counter(
        "trace_spans_dropped_total",
        "Spans lost: the export queue was full, or their export failed.",
        "counter",
        tr.spans_dropped.load(Ordering::Relaxed),
    );
    counter(
        "trace_export_failures_total",
        "OTLP export requests that failed (collector unreachable, error answer, timeout).",
        "counter",
        tr.export_failures.load(Ordering::Relaxed),
    );
    counter(
        "surrogate_key_overflow_total",
        "Surrogate keys dropped for exceeding the per-object limits.",
        "counter",
        node.surrogate_key_overflow.load(Ordering::Relaxed),
    );
    out
}

/// `POST /admin/tls/reload` (an admin token whose hosts include `"*"`):
/// reload every listener's certificates; 200 when all loaded, 500 with the
/// failures (the old certificates stay in use) otherwise.
async fn reload_certificates(
    State(node): State<Arc<Node>>,
    headers: http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !admin_authorized(&node, &headers) {
        return (
            http::StatusCode::UNAUTHORIZED,
            [(http::header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token valid for all hosts is required\n",
        )
            .into_response();
    }
    let outcomes = node.reload_certificates();
    let failed = outcomes.iter().any(|(_, r)| r.is_err());
    let body: Vec<serde_json::Value> = outcomes
        .into_iter()
        .map(|(listener, r)| match r {
            Ok(n) => serde_json::json!({ "listener": listener, "certificates": n }),
            Err(e) => serde_json::json!({ "listener": listener, "error": e }),
        })
        .collect();
    let status = if failed {
        http::StatusCode::INTERNAL_SERVER_ERROR
    } else {
        http::StatusCode::OK
    };
    (status, axum::Json(serde_json::json!({ "listeners": body }))).into_response()
}

/// Does `headers` carry a configured token that covers every host (`"*"`)?
/// Without tokens nobody is authorized, as for the purge API; SIGHUP
/// reloads anyway.
fn admin_authorized(node: &Node, headers: &http::HeaderMap) -> bool {
    let tokens = Tokens::new(
        node.cfg
            .admin
            .tokens
            .iter()
            .map(|t| Token::new(&t.token, t.hosts.clone()))
            .collect(),
    );
    tokens
        .authenticate(headers)
        .is_ok_and(|t| t.hosts().iter().any(|h| h == "*"))
}
