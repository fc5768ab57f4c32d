//! One client connection, from its first byte to its close: the protocol is
//! picked under `first_bytes_timeout_secs`, writes are bounded by
//! `send_timeout_secs`, HTTP/1.1 bytes pass the strict framing tracker and
//! HTTP/2 connections close when idle. Every request passes
//! [`request_checks`](super::request_checks) before the proxy sees it.

use super::conn_limits::ConnPermit;
use super::first_bytes::{self, Prefixed, Protocol};
use super::front_end::FrontEnd;
use super::h2_idle::{CountedBody, StreamCount};
use super::observe::Observed;
use super::request_checks::Rejection;
use super::send_timeout::SendTimeout;
use super::strict_h1::{ConnFraming, StrictH1};
use crate::proxy::tunnel::ConnHold;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// `TLSv1.3` or `TLSv1.2`, as logged.
fn tls_version_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "TLS",
    }
}

/// Resolves when the listener stops (or is gone).
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serve one accepted connection until it closes; `permit` holds its place
/// under the connection caps until then.
pub async fn serve(
    fe: Arc<FrontEnd>,
    mut stream: TcpStream,
    peer: SocketAddr,
    permit: ConnPermit,
    mut stop: watch::Receiver<bool>,
) {
    let _permit = permit;
    let sniffed = tokio::select! {
        r = tokio::time::timeout(fe.first_bytes, first_bytes::sniff(&mut stream)) => r,
        () = stopped(&mut stop) => return,
    };
    let (protocol, prefix) = match sniffed {
        Ok(Ok(Some(p))) => p,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %peer, "connection failed before its first request");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "no request bytes within first_bytes_timeout_secs; closing");
            return;
        }
    };
    let io = Prefixed::new(prefix, SendTimeout::new(stream, fe.send_timeout));
    let result = match protocol {
        Protocol::Http1 => serve_h1(fe, io, peer, None, None, stop).await,
        Protocol::Http2 => serve_h2(fe, io, peer, None, None, stop).await,
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// Serve one accepted TLS connection: the handshake must finish within
/// `handshake_timeout`, then ALPN picks HTTP/2 or HTTP/1.1.
pub async fn serve_tls(
    fe: Arc<FrontEnd>,
    stream: TcpStream,
    peer: SocketAddr,
    permit: ConnPermit,
    acceptor: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _permit = permit;
    let io = SendTimeout::new(stream, fe.send_timeout);
    let handshake = tokio::select! {
        r = tokio::time::timeout(handshake_timeout, acceptor.accept(io)) => r,
        () = stopped(&mut stop) => return,
    };
    let tls = match handshake {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %peer, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake not done within handshake_timeout_secs; closing");
            return;
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let sni: Option<Arc<str>> = tls.get_ref().1.server_name().map(Arc::from);
    let version = tls.get_ref().1.protocol_version().map(tls_version_name);
    let result = if h2 {
        serve_h2(fe, tls, peer, sni, version, stop).await
    } else {
        serve_h1(fe, tls, peer, sni, version, stop).await
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "TLS connection ended with an error");
    }
}

async fn serve_h1<I>(
    fe: Arc<FrontEnd>,
    io: I,
    peer: SocketAddr,
    sni: Option<Arc<str>>,
    tls: Option<&'static str>,
    mut stop: watch::Receiver<bool>,
) -> hyper::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let framing = Arc::new(ConnFraming::default());
    let io = StrictH1::new(io, fe.trailers, framing.clone());
    // Each tunnel on this connection holds a sender; all dropped: none left.
    let (tunnel_tx, mut tunnels_done) = tokio::sync::mpsc::channel::<()>(1);
    let fe2 = fe.clone();
    let tx = tunnel_tx.clone();
    let svc = service_fn(move |mut req: http::Request<Incoming>| {
        let (fe, framing, sni) = (fe2.clone(), framing.clone(), sni.clone());
        if req.extensions().get::<OnUpgrade>().is_some() {
            req.extensions_mut().insert(ConnHold::new(tx.clone()));
        }
        async move {
            let n = framing.next_request();
            // Boxed: hyper keeps one slot for this service future per
            // connection for the connection's whole life (Box::pin(None)),
            // sized for the future; unboxed, the proxy's request future
            // (about 5.3 KiB) stayed allocated on every idle keep-alive
            // connection. Boxed, it lives only while a request does.
            let resp = Box::pin(fe.handle(req, peer, sni.as_deref(), tls)).await;
            if framing.body_was_malformed(n) {
                // The proxy saw a failed request body and answered 502.
                return Ok::<_, Infallible>(
                    Rejection::BadRequest("malformed chunked body")
                        .response()
                        .map(Observed::plain),
                );
            }
            if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
                framing.switch_protocols();
            }
            Ok(resp)
        }
    });
    let result = {
        let conn = fe
            .h1
            .serve_connection(TokioIo::new(io), svc)
            .with_upgrades();
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => r,
            () = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        }
    };
    // hyper has handed an upgraded connection to its tunnel: the connection
    // (and its place under the caps) lasts until the tunnel ends.
    drop(tunnel_tx);
    let _ = tunnels_done.recv().await;
    result
}

async fn serve_h2<I>(
    fe: Arc<FrontEnd>,
    io: I,
    peer: SocketAddr,
    sni: Option<Arc<str>>,
    tls: Option<&'static str>,
    mut stop: watch::Receiver<bool>,
) -> hyper::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let streams = StreamCount::new();
    let (fe2, streams2) = (fe.clone(), streams.clone());
    let svc = service_fn(move |mut req: http::Request<Incoming>| {
        let (fe, guard, sni) = (fe2.clone(), streams2.start(), sni.clone());
        if req.extensions().get::<OnUpgrade>().is_some() {
            // An extended CONNECT's tunnel keeps the stream counted, so the
            // idle timeout leaves its connection open.
            req.extensions_mut().insert(ConnHold::new(streams2.start()));
        }
        async move {
            let resp = fe.handle(req, peer, sni.as_deref(), tls).await;
            Ok::<_, Infallible>(resp.map(|b| CountedBody::new(b, guard)))
        }
    });
    let conn = fe.h2.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => return r,
        () = stopped(&mut stop) => {}
        () = streams.idle_for(fe.h2_idle) => {
            tracing::debug!(%peer, "HTTP/2 connection idle; sending GOAWAY");
        }
    }
    conn.as_mut().graceful_shutdown();
    conn.await
}
