//! A dedicated connection to an origin server for one WebSocket handshake.
//! Never pooled: after a 101 it carries the tunnel's bytes and nothing
//! else, and after any other answer it closes. The server is chosen by the
//! pool's balancing and breakers like any request's, and the outcome of the
//! handshake feeds the server's breaker.

use crate::body::Body;
use crate::clock;
use crate::error::UpstreamError;
use crate::upstream::origin::Origin;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// The origin's answer to a handshake.
pub enum Answer {
    /// 101: the origin switched; its head, and the connection's bytes.
    Switched(http::response::Parts, Upgraded),
    /// Anything else, to pass on to the client.
    Refused(Response<Incoming>),
}

/// Timeouts for one handshake.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From the request sent to the response head.
    pub head: Duration,
}

/// Send the handshake `req` (origin-form target, Host set) to a server of
/// `pool` on a connection of its own.
pub async fn handshake(
    pool: &Origin,
    req: Request<Body>,
    timeouts: Timeouts,
) -> Result<Answer, UpstreamError> {
    let origin = || pool.authority().unwrap_or("origin").to_string();
    let Some(idx) = pool.pick(clock::instant(), None) else {
        return Err(UpstreamError::CircuitOpen { origin: origin() });
    };
    let server = &pool.servers()[idx];
    let name = server.uri.to_string().trim_end_matches('/').to_string();
    let in_flight = pool.start(idx);
    let unreachable = |reason: String| UpstreamError::Unreachable {
        origin: name.clone(),
        reason,
    };
    let exchange = async {
        // The server's own dialer: TCP, then TLS (ALPN http/1.1) for an
        // https:// origin, within the connect timeout.
        let stream = server
            .conns
            .dialer()
            .open(false)
            .await
            .map_err(|e| unreachable(format!("connect: {e}")))?
            .io;
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake::<_, Body>(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "origin handshake connection ended");
            }
        });
        let mut resp = match tokio::time::timeout(timeouts.head, sender.send_request(req)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Err(_) => {
                return Err(UpstreamError::Timeout {
                    origin: name.clone(),
                    ms: timeouts.head.as_millis() as u64,
                });
            }
        };
        if resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            return Ok(Answer::Refused(resp));
        }
        let upgraded = hyper::upgrade::on(&mut resp)
            .await
            .map_err(|e| unreachable(format!("upgrade: {e}")))?;
        let (parts, _) = resp.into_parts();
        Ok(Answer::Switched(parts, upgraded))
    };
    let result = exchange.await;
    let ok = match &result {
        Ok(Answer::Refused(r)) => !r.status().is_server_error() || pool.servers().len() == 1,
        Ok(Answer::Switched(..)) => true,
        Err(_) => false,
    };
    in_flight.record(ok, clock::instant());
    result
}
