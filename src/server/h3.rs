//! The HTTP/3 listener: QUIC on UDP (quinn) with the `[[https]]` listener's
//! certificates, each request stream fed into the same pipeline as TCP
//! requests. Connections count against the same caps; drain sends GOAWAY.
//! 0-RTT is off (early data could be replayed, RFC 8470).

use super::conn_limits::{ConnLimits, ConnPermit};
use super::connection::stopped;
use super::front_end::FrontEnd;
use super::h2_idle::StreamCount;
use super::h3_stream;
use crate::config::HttpsConfig;
use crate::tls;
use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a drained HTTP/3 connection with nothing in flight waits for
/// the client to close before the node closes it.
const DRAIN_LINGER: Duration = Duration::from_secs(1);

/// Bind the QUIC endpoint of listener `h` at `addr` (the TCP listener's
/// address, so `Alt-Svc` names the same port), serving `resolver`'s
/// certificates.
pub fn bind(
    h: &HttpsConfig,
    addr: SocketAddr,
    resolver: Arc<tls::resolver::Resolver>,
    max_streams: u32,
) -> anyhow::Result<quinn::Endpoint> {
    let tls = tls::server_config::build(h, resolver, &tls::server_config::ALPN_H3, true)?;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| anyhow::anyhow!("QUIC TLS configuration: {e}"))?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(max_streams.into())
        // Control, QPACK encoder and decoder streams, and a little room.
        .max_concurrent_uni_streams(8u32.into())
        .max_idle_timeout(Some(
            Duration::from_secs(h.h3_idle_timeout_secs)
                .try_into()
                .map_err(|e| anyhow::anyhow!("https.h3_idle_timeout_secs: {e}"))?,
        ));
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(Arc::new(transport));
    let endpoint = quinn::Endpoint::server(server, addr)?;
    Ok(endpoint)
}

/// Serve `endpoint` until `shutdown`, then send GOAWAY on every connection
/// and let their requests finish for at most `drain`.
pub async fn serve(
    fe: Arc<FrontEnd>,
    endpoint: quinn::Endpoint,
    handshake_timeout: Duration,
    limits: Arc<ConnLimits>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let peer = incoming.remote_address();
                let Ok(permit) = limits.admit(peer.ip()) else {
                    incoming.refuse();
                    continue;
                };
                tokio::spawn(connection(
                    fe.clone(),
                    incoming,
                    peer,
                    permit,
                    handshake_timeout,
                    stop_rx.clone(),
                    done_tx.clone(),
                ));
            }
            () = &mut shutdown => break,
        }
    }
    let _ = stop_tx.send(true);
    drop(done_tx);
    // Every connection task holds a sender: all dropped means all done.
    let _ = tokio::time::timeout(drain, done_rx.recv()).await;
    endpoint.close(0u32.into(), b"shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
}

async fn connection(
    fe: Arc<FrontEnd>,
    incoming: quinn::Incoming,
    peer: SocketAddr,
    permit: ConnPermit,
    handshake_timeout: Duration,
    mut stop: watch::Receiver<bool>,
    _done: tokio::sync::mpsc::Sender<()>,
) {
    let _permit = permit;
    let conn = match tokio::time::timeout(handshake_timeout, incoming).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "QUIC handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "QUIC handshake not done within handshake_timeout_secs");
            return;
        }
    };
    let sni: Option<Arc<str>> = conn
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.server_name.as_deref().map(Arc::from));
    let max_field_section = fe.max_head_bytes() as u64;
    let built = h3::server::builder()
        .max_field_section_size(max_field_section)
        .build::<_, Bytes>(h3_quinn::Connection::new(conn))
        .await;
    let mut h3 = match built {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "HTTP/3 connection setup failed");
            return;
        }
    };
    let streams = StreamCount::new();
    let mut draining = false;
    loop {
        tokio::select! {
            accepted = h3.accept() => match accepted {
                Ok(Some(resolver)) => {
                    let (fe, sni, guard) = (fe.clone(), sni.clone(), streams.start());
                    tokio::spawn(async move {
                        let _guard = guard;
                        match resolver.resolve_request().await {
                            Ok((req, stream)) => request(fe, req, stream, peer, sni).await,
                            Err(e) => tracing::debug!(%peer, error = %e, "HTTP/3 request refused"),
                        }
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "HTTP/3 connection ended");
                    break;
                }
            },
            () = stopped(&mut stop), if !draining => {
                draining = true;
                // GOAWAY: requests already accepted finish, no new ones.
                if let Err(e) = h3.shutdown(0).await {
                    tracing::debug!(%peer, error = %e, "HTTP/3 GOAWAY failed");
                    break;
                }
            }
            // After GOAWAY, once the requests in flight are done, give the
            // client a moment to take the last bytes and close (closing
            // first would discard stream data not yet acknowledged).
            () = streams.idle_for(Duration::ZERO), if draining => {
                let linger = async { while let Ok(Some(_)) = h3.accept().await {} };
                let _ = tokio::time::timeout(DRAIN_LINGER, linger).await;
                break;
            }
        }
    }
}

type Stream = h3::server::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

async fn request(
    fe: Arc<FrontEnd>,
    req: http::Request<()>,
    stream: Stream,
    peer: SocketAddr,
    sni: Option<Arc<str>>,
) {
    let (mut send, recv) = stream.split();
    let (parts, ()) = req.into_parts();
    let req = http::Request::from_parts(parts, h3_stream::request_body(recv));
    let resp = fe.handle_h3(req, peer, sni.as_deref()).await;
    if let Err(e) = h3_stream::send_response(&mut send, resp, fe.send_timeout()).await {
        tracing::debug!(%peer, error = %e, "HTTP/3 response not fully sent");
    }
}
