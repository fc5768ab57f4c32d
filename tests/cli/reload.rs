//! `edgecache reload` against a reloadable node (200, 200 naming what needs
//! a restart, 422 naming the field, 401 for a token without `"*"`), and
//! against an in-test endpoint for the answers a node gives rarely (200
//! with certificate errors, 403).

use crate::support::TestNode;
use crate::{OPERATOR, SHOP, config, edgecache, tagging_origin};
use std::net::SocketAddr;
use std::sync::Arc;

/// What the in-test reload endpoint received.
#[derive(Debug, Clone)]
struct ReloadCall {
    method: String,
    path: String,
    authorization: Option<String>,
}

/// An admin endpoint answering `POST /admin/reload` per its contract:
/// token `good-…` 200, `restart-…` 200 naming fields, `certerr-…` 200
/// with a certificate that failed, `badcfg-…` 422,
/// `narrow-…` 403, anything else 401.
async fn reload_endpoint() -> (SocketAddr, Arc<parking_lot::Mutex<Vec<ReloadCall>>>) {
    use http_body_util::Full;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let calls = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let calls2 = calls.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let calls = calls2.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| {
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        calls.lock().push(ReloadCall {
                            method: req.method().to_string(),
                            path: req.uri().path().to_string(),
                            authorization: auth.clone(),
                        });
                        let token = auth
                            .as_deref()
                            .and_then(|a| a.strip_prefix("Bearer "))
                            .unwrap_or("");
                        let (status, body) = match token.split('-').next() {
                            Some("good") => (200, r#"{"reloaded":true,"restart_needed":[]}"#),
                            Some("restart") => (
                                200,
                                r#"{"reloaded":true,"restart_needed":["server.listen","storage.disk_bytes"]}"#,
                            ),
                            Some("certerr") => (
                                200,
                                r#"{"reloaded":true,"restart_needed":[],"certificate_errors":["https[0]: /etc/edgecache/a.pem: no such file"]}"#,
                            ),
                            Some("badcfg") => (
                                422,
                                r#"{"error":"config field `sites[0].hosts`: must list at least one host"}"#,
                            ),
                            Some("narrow") => (
                                403,
                                r#"{"error":"a token for every host (\"*\") is required"}"#,
                            ),
                            _ => (401, r#"{"error":"unknown token"}"#),
                        };
                        async move {
                            let mut r = http::Response::new(Full::new(bytes::Bytes::from(body)));
                            *r.status_mut() = http::StatusCode::from_u16(status).expect("status");
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, calls)
}

#[tokio::test]
async fn reload_reports_each_answer_of_the_endpoint() {
    let (addr, calls) = reload_endpoint().await;
    let admin = addr.to_string();
    // (token, exit code, stdout, stderr)
    let cases = [
        (
            "good-token-0123456789",
            0,
            "reloaded: the new config is in force",
            "",
        ),
        (
            "restart-token-0123456789",
            0,
            "reloaded; these changes take effect only after a restart: server.listen, storage.disk_bytes",
            "",
        ),
        (
            "certerr-token-0123456789",
            1,
            "reloaded: the new config is in force",
            "edgecache: the config was reloaded, but these listeners keep their previous certificates: https[0]: /etc/edgecache/a.pem: no such file",
        ),
        (
            "badcfg-token-0123456789",
            1,
            "",
            "edgecache: the node rejected the new config and keeps running with the old one: config field `sites[0].hosts`: must list at least one host",
        ),
        (
            "narrow-token-0123456789",
            4,
            "",
            "edgecache: the admin token is valid but not allowed to do this (a token for every host (\"*\") is required)",
        ),
        (
            "wrong-token-0123456789",
            4,
            "",
            "edgecache: the node does not accept this admin token (unknown token)",
        ),
    ];
    for (token, code, stdout, stderr) in cases {
        let out = edgecache(&["reload", "--admin", &admin, "--token", token]).await;
        assert_eq!(out.code, Some(code), "{token}: {out:?}");
        assert_eq!(out.stdout.trim(), stdout, "{token}: {out:?}");
        assert!(out.stderr.starts_with(stderr), "{token}: {out:?}");
        let last = calls.lock().last().cloned().expect("a call");
        assert_eq!(
            (last.method.as_str(), last.path.as_str(), last.authorization),
            ("POST", "/admin/reload", Some(format!("Bearer {token}")))
        );
    }
    // The token can come from the environment.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_edgecache"))
        .args(["reload", "--admin", &admin])
        .env("EDGECACHE_ADMIN_TOKEN", "good-token-from-env-0123")
        .env_remove("EDGECACHE_CONFIG")
        .output()
        .await
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        calls.lock().last().and_then(|c| c.authorization.clone()),
        Some("Bearer good-token-from-env-0123".into())
    );
}

#[tokio::test]
async fn reload_reports_what_a_real_node_answered() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, shared) = TestNode::start_reloadable(config(&origin.url(), dir.path())).await;
    let admin = node.admin_addr.to_string();
    let reload = |token: &'static str| {
        let admin = admin.clone();
        async move { edgecache(&["reload", "--admin", &admin, "--token", token]).await }
    };

    let out = reload(OPERATOR).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim(), "reloaded: the new config is in force");

    shared.lock().server.listen = "127.0.0.1:1".parse().expect("addr");
    let out = reload(OPERATOR).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        "reloaded; these changes take effect only after a restart: server.listen"
    );

    shared.lock().upstream.breaker_failures = 0;
    let out = reload(OPERATOR).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.starts_with(
            "edgecache: the node rejected the new config and keeps running with the old one: "
        ) && out.stderr.contains("upstream.breaker_failures"),
        "{out:?}"
    );

    // The shop token does not cover every host.
    let out = reload(SHOP).await;
    assert_eq!(out.code, Some(4), "{out:?}");
    assert!(
        out.stderr
            .contains("the node does not accept this admin token (a bearer token valid for all hosts is required)"),
        "{out:?}"
    );
    // Still serving, with the old config.
    let got = crate::support::get(&node.url("/after")).await;
    assert_eq!(got.status, 200);
    node.stop().await;
}
