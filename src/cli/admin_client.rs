//! The operator subcommands' HTTP/1.1 client for the admin listener: one
//! request per connection, bounded by a timeout, with failures turned into
//! [`CliError`]s an operator can act on.

use super::error::CliError;
use bytes::Bytes;
use edgecache::config::Config;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// Largest answer read (a /metrics page of many sites stays well under it).
const MAX_ANSWER_BYTES: usize = 16 << 20;

/// Flags shared by every subcommand that talks to the admin listener.
#[derive(clap::Args, Debug, Clone)]
pub struct AdminArgs {
    /// Admin listener address, e.g. 127.0.0.1:9080. Default: `admin.listen`
    /// of --config when given, else 127.0.0.1:9080.
    #[arg(long, global = true, value_name = "ADDR")]
    pub admin: Option<String>,
    /// Admin bearer token (one of [[admin.tokens]]).
    #[arg(
        long,
        global = true,
        env = "EDGECACHE_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Seconds to wait for the whole answer.
    #[arg(long, global = true, default_value_t = 10, value_name = "SECS")]
    pub timeout: u64,
}

/// An answer from the admin listener.
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its whole body.
    pub body: Bytes,
}

impl Answer {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim_end().to_string()
    }

    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The message of an error answer: `{"error": {"message": ..}}` (purge
    /// API), `{"error": ".."}` (reload), or the text itself.
    pub fn error_message(&self) -> String {
        let from_json = self.json().and_then(|v| {
            let e = v.get("error")?;
            e.get("message")
                .and_then(|m| m.as_str())
                .or_else(|| e.as_str())
                .map(str::to_string)
        });
        match from_json {
            Some(m) => m,
            None if self.body.is_empty() => "no details given".to_string(),
            None => self.text(),
        }
    }

    /// Map 401 and 403 to their errors; anything else non-2xx to
    /// [`CliError::Failed`] starting with `what`.
    pub fn check(self, what: &str) -> Result<Answer, CliError> {
        match self.status {
            s if s.is_success() => Ok(self),
            StatusCode::UNAUTHORIZED => Err(CliError::Unauthorized(self.error_message())),
            StatusCode::FORBIDDEN => Err(CliError::Forbidden(self.error_message())),
            s => Err(CliError::Failed(format!(
                "{what}: the node answered {s}: {}",
                self.error_message()
            ))),
        }
    }
}

/// A client for one admin listener.
pub struct AdminClient {
    addr: String,
    token: Option<String>,
    timeout: Duration,
}

impl AdminClient {
    /// From the flags, reading `admin.listen` from `config` when `--admin`
    /// is not given.
    pub fn new(args: &AdminArgs, config: Option<&Path>) -> Result<AdminClient, CliError> {
        let addr = match &args.admin {
            Some(a) => {
                let a = a.trim();
                let a = a.strip_prefix("http://").unwrap_or(a);
                a.trim_end_matches('/').to_string()
            }
            None => {
                let listen = match config {
                    Some(p) => {
                        Config::load(p)
                            .map_err(|e| {
                                CliError::Usage(format!(
                                    "cannot take admin.listen from the config: {e}"
                                ))
                            })?
                            .admin
                            .listen
                    }
                    None => Config::default().admin.listen,
                };
                connectable(listen).to_string()
            }
        };
        if args.timeout == 0 {
            return Err(CliError::Usage("--timeout must be at least 1".into()));
        }
        Ok(AdminClient {
            addr,
            token: args.token.clone().filter(|t| !t.trim().is_empty()),
            timeout: Duration::from_secs(args.timeout),
        })
    }

    /// Fail with [`CliError::NoToken`] unless a token was given.
    pub fn require_token(&self) -> Result<(), CliError> {
        match self.token {
            Some(_) => Ok(()),
            None => Err(CliError::NoToken),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Answer, CliError> {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body (or none).
    pub async fn post(
        &self,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Answer, CliError> {
        self.send(Method::POST, path, json).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Answer, CliError> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.addr)
            .header(
                header::USER_AGENT,
                concat!("edgecache/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {}", t.trim()));
        }
        let body = match json {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(body))
            .map_err(|e| CliError::Usage(format!("cannot build the request for {path}: {e}")))?;
        tokio::time::timeout(self.timeout, self.exchange(req))
            .await
            .map_err(|_| CliError::Timeout {
                addr: self.addr.clone(),
                secs: self.timeout.as_secs(),
            })?
    }

    async fn exchange(&self, req: Request<Full<Bytes>>) -> Result<Answer, CliError> {
        let stream = tokio::net::TcpStream::connect(self.addr.as_str())
            .await
            .map_err(|e| CliError::Unreachable {
                addr: self.addr.clone(),
                reason: plain(&e),
            })?;
        let broken = |e: hyper::Error| {
            CliError::Failed(format!(
                "the admin listener at {} broke off the exchange: {e}",
                self.addr
            ))
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(broken)?;
        tokio::spawn(async move {
            // Errors surface through `send_request` below.
            let _ = conn.await;
        });
        let resp = sender.send_request(req).await.map_err(broken)?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| {
                CliError::Failed(format!(
                    "cannot read the answer from the admin listener at {}: {e}",
                    self.addr
                ))
            })?
            .to_bytes();
        Ok(Answer { status, body })
    }
}

/// A listen address one can connect to: an unspecified IP (`0.0.0.0`,
/// `::`) becomes the loopback address of its family.
fn connectable(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port())
        }
        _ => listen,
    }
}

/// An I/O error in a few lower-case words ("connection refused").
fn plain(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".into(),
        K::TimedOut => "connection timed out".into(),
        K::HostUnreachable => "host unreachable".into(),
        K::NetworkUnreachable => "network unreachable".into(),
        K::AddrNotAvailable => "address not available".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_listen_addresses_become_loopback() {
        let p = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert_eq!(connectable(p("0.0.0.0:9080")), p("127.0.0.1:9080"));
        assert_eq!(connectable(p("[::]:9080")), p("[::1]:9080"));
        assert_eq!(connectable(p("10.1.2.3:9080")), p("10.1.2.3:9080"));
    }

    #[test]
    fn error_messages_come_from_either_json_shape_or_the_text() {
        let a = |body: &str| Answer {
            status: StatusCode::BAD_REQUEST,
            body: Bytes::from(body.to_string()),
        };
        assert_eq!(
            a(r#"{"error":{"status":400,"code":"bad_request","message":"unknown host `x`"}}"#)
                .error_message(),
            "unknown host `x`"
        );
        assert_eq!(
            a(r#"{"error":"config field `server.listen`: bad"}"#).error_message(),
            "config field `server.listen`: bad"
        );
        assert_eq!(a("plain words\n").error_message(), "plain words");
        assert_eq!(a("").error_message(), "no details given");
    }
}
