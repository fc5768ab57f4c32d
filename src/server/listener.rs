//! The public TCP listener: HTTP/1.1 and h2c on one port, connection caps,
//! and graceful drain on shutdown. Each connection is served by
//! [`connection::serve`](super::connection::serve).

use super::conn_limits::ConnLimits;
use super::connection::{self, FrontEnd};
use crate::proxy::Node;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serve `listener` until `shutdown` resolves, then stop accepting and let
/// in-flight requests finish for at most `drain`. Returns true when every
/// connection finished within the drain time.
pub async fn serve(
    node: Arc<Node>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> bool {
    let limits = ConnLimits::new(
        node.cfg.server.max_connections,
        node.cfg.server.max_connections_per_ip,
    );
    let tunnels = node.tunnels.clone();
    let fe = FrontEnd::new(node, crate::proxy::Scheme::Http, None);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = accept(&listener, "accept failed") => {
                let Some((stream, peer)) = accepted else {
                    continue;
                };
                // Over a cap: accepted, then closed at once (logged by admit).
                let Ok(permit) = limits.admit(peer.ip()) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection::serve(fe.clone(), stream, peer, permit, stop_rx.clone()));
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: no longer accepting; draining in-flight requests");
    let _ = stop_tx.send(true);
    // A WebSocket tunnel never finishes on its own: close them now rather
    // than at the drain timeout.
    tunnels.close_all();
    tokio::select! {
        () = limits.all_closed() => true,
        () = tokio::time::sleep(drain) => {
            tracing::warn!(drain_secs = drain.as_secs(), "drain timeout reached; closing remaining connections");
            false
        }
    }
}

/// Accept one connection. On failure (EMFILE and friends) log `what`, back
/// off briefly instead of spinning, and return `None`. Shared by the public
/// and admin listeners.
pub async fn accept(
    listener: &TcpListener,
    what: &'static str,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener.accept().await {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::warn!(error = %e, "{what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}
