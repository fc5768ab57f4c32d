//! Test support: a scripted origin on 127.0.0.1:0 that records what it
//! receives, an in-process node, and a small client.
#![allow(dead_code, missing_docs)]

pub mod coded_body;
pub mod fleet;
pub mod logs;
pub mod nats;
pub mod process;
pub mod raw_client;
pub mod raw_origin;
pub mod tls;
pub mod wait;

#[allow(unused_imports)]
pub use wait::{Reserved, wait_until, wait_until_async};

use bytes::Bytes;
use edgecache::body::{self, Body};
use edgecache::config::Config;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// A request as the origin saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
}

type Handler = Arc<dyn Fn(&Seen) -> Response<Body> + Send + Sync>;

/// A scripted origin server.
pub struct Origin {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    /// Its port, held after `stop()` so that the address keeps refusing
    /// (no other test's listener can be given it).
    _port: Reserved,
}

impl Origin {
    /// Start an origin answering every request with `handler`.
    pub async fn start(
        handler: impl Fn(&Seen) -> Response<Body> + Send + Sync + 'static,
    ) -> Origin {
        let port = Reserved::new();
        let listener = port.listen().await;
        let addr = port.addr;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let seen2 = seen.clone();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let conns = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (handler, seen) = (handler.clone(), seen2.clone());
                let conn = tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (handler, seen) = (handler.clone(), seen.clone());
                        async move {
                            let s = Seen {
                                method: req.method().clone(),
                                path: req
                                    .uri()
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: req.headers().clone(),
                            };
                            let _ = req.into_body().collect().await;
                            seen.lock().push(s.clone());
                            Ok::<_, Infallible>(handler(&s))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                conns.lock().push(conn.abort_handle());
            }
        });
        Origin {
            addr,
            seen,
            task,
            connections,
            _port: port,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.lock().len()
    }

    /// How many requests for `path` arrived.
    pub fn count(&self, path: &str) -> usize {
        self.seen.lock().iter().filter(|s| s.path == path).count()
    }

    /// Stop listening and drop every open connection: the origin is down
    /// (connections to its address are refused once the aborted accept
    /// task has been dropped; `stop_and_wait` waits for that).
    pub fn stop(&self) {
        self.task.abort();
        for c in self.connections.lock().drain(..) {
            c.abort();
        }
    }
}

impl Origin {
    /// `stop()`, then wait until a connection to its address is refused.
    pub async fn stop_and_wait(&self) {
        self.stop();
        let addr = self.addr;
        wait_until_async(
            "the stopped origin to refuse connections",
            std::time::Duration::from_secs(10),
            async || tokio::net::TcpStream::connect(addr).await.is_err(),
        )
        .await;
    }
}

/// A response builder for origin handlers.
pub fn reply(status: u16, headers: &[(&str, &str)], body_text: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(body::full(body_text.into()));
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    for (n, v) in headers {
        r.headers_mut().append(
            http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
            http::HeaderValue::from_str(v).expect("value"),
        );
    }
    r
}

/// A config for tests: small budgets, data in `dir`, listening on port 0.
pub fn test_config(origin: &str, dir: &Path) -> Config {
    let mut cfg = Config {
        origin: Some(origin.to_string()),
        ..Default::default()
    };
    cfg.server.listen = "127.0.0.1:0".parse().expect("addr");
    cfg.admin.listen = "127.0.0.1:0".parse().expect("addr");
    cfg.server.data_dir = dir.to_path_buf();
    cfg.server.drain_timeout_secs = 5;
    cfg.storage.memory_bytes = 32 << 20;
    cfg.storage.disk_bytes = 64 << 20;
    cfg.storage.block_bytes = 4 << 20;
    cfg.storage.max_object_bytes = 2 << 20;
    cfg
}

/// A node running in this process.
pub struct TestNode {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The `[[https]]` listeners' addresses (TCP; HTTP/3 on the same UDP port).
    pub https_addrs: Vec<SocketAddr>,
    /// The node in force, and its reload.
    pub live: std::sync::Arc<edgecache::live::Live>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestNode {
    pub async fn start(cfg: Config) -> TestNode {
        let running = edgecache::node::start(cfg).await.expect("node starts");
        TestNode::run(running)
    }

    /// A node whose reloads read the config in the returned cell
    /// (validated, as the binary validates the file it reads).
    pub async fn start_reloadable(cfg: Config) -> (TestNode, Arc<Mutex<Config>>) {
        let shared = Arc::new(Mutex::new(cfg.clone()));
        let source = shared.clone();
        let running = edgecache::node::start_reloadable(
            cfg,
            Box::new(move || {
                let c = source.lock().clone();
                c.validate()?;
                Ok(c)
            }),
        )
        .await
        .expect("node starts");
        (TestNode::run(running), shared)
    }

    fn run(running: edgecache::node::Running) -> TestNode {
        let live = running.live();
        let addr = running.addr;
        let admin_addr = running.admin_addr;
        let https_addrs = running.https_addrs.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(running.run(async move {
            let _ = rx.await;
        }));
        TestNode {
            addr,
            admin_addr,
            https_addrs,
            live,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Graceful stop: drain and flush the store.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("node task").expect("node shut down cleanly");
        }
    }
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn cache_status(&self) -> &str {
        self.header("cache-status").unwrap_or("")
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send one request with a fresh client.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)]) -> Got {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = client
        .request(req.body(body::empty()).expect("request"))
        .await
        .expect("response");
    let (parts, b) = resp.into_parts();
    let body = b.collect().await.expect("body").to_bytes();
    Got {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

pub async fn get(url: &str) -> Got {
    send("GET", url, &[]).await
}

/// Call the admin API: (status, parsed JSON body).
pub async fn admin(
    node_admin: SocketAddr,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    json: &str,
) -> (u16, serde_json::Value) {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder()
        .method("POST")
        .uri(format!("http://{node_admin}{path}"));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (n, v) in extra {
        req = req.header(*n, *v);
    }
    let resp = client
        .request(req.body(body::full(json.to_string())).expect("request"))
        .await
        .expect("admin response");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// The admin listener's Prometheus text.
pub async fn metrics(node_admin: SocketAddr) -> String {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let req = Request::get(format!("http://{node_admin}/metrics"))
        .body(body::empty())
        .expect("request");
    let resp = client.request(req).await.expect("metrics response");
    String::from_utf8_lossy(&resp.into_body().collect().await.expect("body").to_bytes())
        .into_owned()
}
