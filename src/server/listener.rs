//! The public TCP listeners: HTTP/1.1 and h2c on the plaintext port, TLS
//! (HTTP/1.1 and h2 by ALPN) on `[[https]]` ports; connection caps shared by
//! all of them, and graceful drain on shutdown. Each connection is served
//! by [`connection::serve`](super::connection::serve) or
//! [`connection::serve_tls`](super::connection::serve_tls).

use super::conn_limits::ConnLimits;
use super::connection;
use super::front_end::FrontEnd;
use crate::proxy::Pipeline;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How a listener's connections begin.
#[derive(Clone)]
pub enum Transport {
    /// Plaintext: HTTP/1.1 or h2c (prior knowledge), told apart by the first bytes.
    Plain,
    /// TLS, then HTTP/1.1 or h2 by ALPN.
    Tls {
        /// The listener's TLS configuration.
        acceptor: tokio_rustls::TlsAcceptor,
        /// Time allowed for the handshake.
        handshake_timeout: Duration,
    },
}

/// The connection caps of a node, shared by all its listeners.
pub fn limits(pipeline: &Pipeline) -> Arc<ConnLimits> {
    ConnLimits::new(
        pipeline.cfg.server.max_connections,
        pipeline.cfg.server.max_connections_per_ip,
    )
}

/// Serve `listener` until `shutdown` resolves, then stop accepting and let
/// in-flight requests finish for at most `drain`. Returns true when every
/// connection finished within the drain time.
pub async fn serve(
    fe: Arc<FrontEnd>,
    listener: TcpListener,
    transport: Transport,
    limits: Arc<ConnLimits>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> bool {
    let tunnels = fe.pipeline().services.tunnels.clone();
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
                match &transport {
                    Transport::Plain => {
                        tokio::spawn(connection::serve(fe.clone(), stream, peer, permit, stop_rx.clone()));
                    }
                    Transport::Tls { acceptor, handshake_timeout } => {
                        tokio::spawn(connection::serve_tls(
                            fe.clone(),
                            stream,
                            peer,
                            permit,
                            acceptor.clone(),
                            *handshake_timeout,
                            stop_rx.clone(),
                        ));
                    }
                }
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
