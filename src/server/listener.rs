//! The public TCP listener: HTTP/1.1 and h2c on one port (hyper-util auto),
//! with graceful drain on shutdown.

use crate::proxy::{self, Node};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serve `listener` until `shutdown` resolves, then stop accepting and let
/// in-flight requests finish for at most `drain`. Returns true when every
/// connection finished within the drain time.
pub async fn serve(
    node: Arc<Node>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> bool {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(
            node.cfg.server.header_read_timeout_secs,
        ))
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let node = node.clone();
                let svc = service_fn(move |req| {
                    let node = node.clone();
                    async move { Ok::<_, Infallible>(proxy::handle(node, req, peer).await) }
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: no longer accepting; draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => true,
        () = tokio::time::sleep(drain) => {
            tracing::warn!(drain_secs = drain.as_secs(), "drain timeout reached; closing remaining connections");
            false
        }
    }
}
