//! The pooled keep-alive client that talks to origins.

use crate::config::UpstreamConfig;
use crate::error::UpstreamError;
use crate::server::body::Body;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

/// A pooled HTTP/1.1 client shared by all origins.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpConnector, Body>,
    first_byte_timeout: Duration,
}

impl Upstream {
    /// Build the client from config.
    pub fn new(cfg: &UpstreamConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_millis(cfg.connect_timeout_ms)));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(cfg.pool_idle_timeout_secs))
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .set_host(false)
            .build(connector);
        Upstream {
            client,
            first_byte_timeout: Duration::from_millis(cfg.first_byte_timeout_ms),
        }
    }

    /// Send `req` to `origin` (scheme and authority), with `path_and_query`.
    /// Returns once the response head has arrived; the body streams.
    pub async fn send(
        &self,
        origin: &Uri,
        path_and_query: &str,
        mut req: Request<Body>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let origin_name = format!(
            "{}://{}",
            origin.scheme_str().unwrap_or("http"),
            origin.authority().map(|a| a.as_str()).unwrap_or("")
        );
        let uri: Uri = format!("{origin_name}{path_and_query}")
            .parse()
            .map_err(|e| UpstreamError::Unreachable {
                origin: origin_name.clone(),
                reason: format!("invalid request target: {e}"),
            })?;
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_11;
        match tokio::time::timeout(self.first_byte_timeout, self.client.request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(UpstreamError::Unreachable {
                origin: origin_name,
                reason: describe(&e),
            }),
            Err(_) => Err(UpstreamError::Timeout {
                origin: origin_name,
                ms: self.first_byte_timeout.as_millis() as u64,
            }),
        }
    }
}

fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
