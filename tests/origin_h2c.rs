//! HTTP/2 with prior knowledge (h2c) to a plaintext origin: ordinary
//! requests are cached as over HTTP/1.1, and the shared connection is
//! opened again after the origin drops it.

use crate::support;

use edgecache::config::Protocol;
use http::Request;
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use std::convert::Infallible;
use std::sync::Arc;
use support::{TestNode, get, reply, test_config};

/// A plaintext HTTP/2 origin recording each request's version; `drop_all`
/// closes every open connection while it keeps listening.
struct H2cOrigin {
    url: String,
    versions: Arc<Mutex<Vec<http::Version>>>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl H2cOrigin {
    async fn start() -> H2cOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let versions = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (seen, open) = (versions.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                let task = tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        seen.lock().push(req.version());
                        async move {
                            let _ = req.into_body().collect().await;
                            Ok::<_, Infallible>(reply(
                                200,
                                &[("cache-control", "max-age=60")],
                                "h2c",
                            ))
                        }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
                open.lock().push(task.abort_handle());
            }
        });
        H2cOrigin {
            url,
            versions,
            conns,
        }
    }

    fn drop_all(&self) {
        for c in self.conns.lock().iter() {
            c.abort();
        }
    }

    fn connections(&self) -> usize {
        self.conns.lock().len()
    }
}

#[tokio::test]
async fn h2c_origin_misses_then_hits_over_http2() {
    let origin = H2cOrigin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url, dir.path());
    cfg.upstream.protocol = Protocol::H2c;
    let node = TestNode::start(cfg).await;
    let first = get(&node.url("/a")).await;
    assert_eq!((first.status, first.text().as_str()), (200, "h2c"));
    let second = get(&node.url("/a")).await;
    assert!(
        second.cache_status().contains("hit"),
        "{}",
        second.cache_status()
    );
    assert_eq!(*origin.versions.lock(), vec![http::Version::HTTP_2]);
    assert_eq!(
        first.header("via"),
        Some("2 edgecache"),
        "Via names the protocol the response came in on"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_dropped_h2c_connection_is_opened_again() {
    let origin = H2cOrigin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&origin.url, dir.path());
    cfg.upstream.protocol = Protocol::H2c;
    let node = TestNode::start(cfg).await;
    assert_eq!(get(&node.url("/a")).await.status, 200);
    // (The node's start-up reachability probe is a connection too.)
    let before = origin.connections();
    origin.drop_all();
    for path in ["/b", "/c"] {
        let got = get(&node.url(path)).await;
        assert_eq!((got.status, got.text().as_str()), (200, "h2c"), "{path}");
    }
    assert_eq!(origin.versions.lock().len(), 3);
    assert_eq!(
        origin.connections(),
        before + 1,
        "one new connection, shared again"
    );
    node.stop().await;
}
