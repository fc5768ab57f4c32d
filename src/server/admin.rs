//! The admin listener (loopback by default): the purge API, `/health` and
//! Prometheus `/metrics`.

use super::admin_purger::NodePurger;
use crate::live::Live;
use crate::proxy::Pipeline;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use purge_api::{ApiConfig, Token, Tokens};
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The admin router for `node`; `live` takes `POST /admin/reload`.
pub fn router(pipeline: Arc<Pipeline>, live: Weak<Live>) -> Router {
    let tokens = pipeline
        .cfg
        .admin
        .tokens
        .iter()
        .map(|t| Token::new(&t.token, t.hosts.clone()))
        .collect();
    let api = ApiConfig {
        tokens: Tokens::new(tokens),
        max_batch: pipeline.cfg.purge.max_batch,
        max_hosts: pipeline.cfg.purge.max_hosts,
        max_key_bytes: pipeline.cfg.purge.max_key_bytes,
        max_body_bytes: pipeline.cfg.purge.max_body_bytes,
    };
    purge_api::router(Arc::new(NodePurger::new(pipeline.clone())), api)
        .merge(
            Router::new()
                .route("/health", get(health))
                .route("/metrics", get(metrics))
                .route(
                    "/admin/tls/reload",
                    axum::routing::post(reload_certificates),
                )
                .with_state(pipeline),
        )
        .merge(
            Router::new()
                .route("/admin/reload", axum::routing::post(reload_config))
                .with_state(live),
        )
}

/// The admin router of the node in force, rebuilt when a reload swaps the
/// node (its tokens and limits come from the config).
struct Routers {
    live: Weak<Live>,
    current: parking_lot::Mutex<(Arc<Pipeline>, Router)>,
}

impl Routers {
    fn current(&self, fallback: &Arc<Pipeline>) -> Router {
        let pipeline = self
            .live
            .upgrade()
            .map_or_else(|| fallback.clone(), |l| l.pipeline());
        let mut cur = self.current.lock();
        if !Arc::ptr_eq(&cur.0, &pipeline) {
            *cur = (pipeline.clone(), router(pipeline, self.live.clone()));
        }
        cur.1.clone()
    }
}

/// Serve the admin router on `listener` until `shutdown`, then let open
/// connections finish. Served with hyper's HTTP/1 connection builder (not
/// `axum::serve`) so a client gets the same header-read timeout as on the
/// public listener (`server.header_read_timeout_secs`): one that never
/// finishes its request head is disconnected.
pub async fn serve(
    live: Arc<Live>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let pipeline = live.pipeline();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(
            pipeline.cfg.server.header_read_timeout_secs,
        ))
        .keep_alive(true);
    let routers = Arc::new(Routers {
        live: Arc::downgrade(&live),
        current: parking_lot::Mutex::new((
            pipeline.clone(),
            router(pipeline.clone(), Arc::downgrade(&live)),
        )),
    });
    drop(live);
    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let router = routers.current(&pipeline);
        async move { tower::ServiceExt::oneshot(router, req).await }
    });
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

/// `GET /metrics`: the OpenMetrics text exposition (Prometheus reads it).
/// `GET /health`: 200 `ok`; in a fleet with `catch_up = "unhealthy"`, 503
/// until the node has read every purge it missed while away.
async fn health(State(pipeline): State<Arc<Pipeline>>) -> (http::StatusCode, &'static str) {
    match &pipeline.services.fleet {
        Some(f) if !f.healthy() => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            "catching up with the fleet's purges\n",
        ),
        _ => (http::StatusCode::OK, "ok\n"),
    }
}

async fn metrics(State(pipeline): State<Arc<Pipeline>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        pipeline.services.metrics.render(),
    )
        .into_response()
}

/// `POST /admin/tls/reload` (an admin token whose hosts include `"*"`):
/// reload every listener's certificates; 200 when all loaded, 500 with the
/// failures (the old certificates stay in use) otherwise.
async fn reload_certificates(
    State(pipeline): State<Arc<Pipeline>>,
    headers: http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !admin_authorized(&pipeline, &headers) {
        return (
            http::StatusCode::UNAUTHORIZED,
            [(http::header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token valid for all hosts is required\n",
        )
            .into_response();
    }
    let outcomes = pipeline.services.reload_certificates();
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

/// `POST /admin/reload` (an admin token whose hosts include `"*"`): re-read
/// the config and swap it in. 200 with what needs a restart; 422 naming
/// the field when the new config is invalid (the running one stays).
async fn reload_config(
    State(live): State<Weak<Live>>,
    headers: http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(live) = live.upgrade() else {
        return http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    if !admin_authorized(&live.pipeline(), &headers) {
        return (
            http::StatusCode::UNAUTHORIZED,
            [(http::header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token valid for all hosts is required\n",
        )
            .into_response();
    }
    match live.reload().await {
        Ok(report) => (
            http::StatusCode::OK,
            axum::Json(serde_json::json!({
                "reloaded": true,
                "restart_needed": report.restart_needed,
                "certificate_errors": report.certificate_errors,
            })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "configuration reload refused; the running configuration stays");
            (
                http::StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(serde_json::json!({ "error": e.to_string() })),
            )
                .into_response()
        }
    }
}

/// Does `headers` carry a configured token that covers every host (`"*"`)?
/// Without tokens nobody is authorized, as for the purge API; SIGHUP
/// reloads anyway.
fn admin_authorized(pipeline: &Pipeline, headers: &http::HeaderMap) -> bool {
    let tokens = Tokens::new(
        pipeline
            .cfg
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
