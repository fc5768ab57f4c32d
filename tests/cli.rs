//! The operator subcommands of the real binary (`purge`, `stats`, `reload`,
//! `health`, `check-config`) against a real node in this process, a real
//! origin, and for `reload` an in-test admin endpoint answering per its
//! contract: what the node serves changes, and every failure is one clear
//! line with its documented exit code.

mod support;

use edgecache::config::{Config, TokenConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use support::{Origin, TestNode, reply, send, test_config};

const OPERATOR: &str = "operator-token-0123456789";
const SHOP: &str = "shop-only-token-0123456789";

fn config(origin: &str, dir: &std::path::Path) -> Config {
    let mut cfg = test_config(origin, dir);
    cfg.admin.tokens = vec![
        TokenConfig {
            token: OPERATOR.into(),
            hosts: vec!["*".into()],
        },
        TokenConfig {
            token: SHOP.into(),
            hosts: vec!["shop.test".into()],
        },
    ];
    cfg
}

/// What a run of the binary produced.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run `edgecache args...` to completion (without inheriting a token or config).
async fn edgecache(args: &[&str]) -> Out {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_edgecache"))
        .args(args)
        .env_remove("EDGECACHE_ADMIN_TOKEN")
        .env_remove("EDGECACHE_CONFIG")
        .output()
        .await
        .expect("run edgecache");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An origin that tags `/product*` with `product`, everything with `all`.
async fn tagging_origin() -> Origin {
    Origin::start(|seen| {
        let tags = if seen.path.starts_with("/product") {
            "product all"
        } else {
            "all"
        };
        reply(
            200,
            &[
                ("cache-control", "max-age=600"),
                ("surrogate-key", tags),
                ("etag", "\"e1\""),
            ],
            seen.path.clone(),
        )
    })
    .await
}

async fn is_hit(node: &TestNode, host: &str, path: &str) -> bool {
    let g = send("GET", &node.url(path), &[("host", host)]).await;
    assert_eq!(g.status, 200, "{host}{path}");
    g.cache_status().contains("; hit") && !g.cache_status().contains("fwd=")
}

/// Fetch twice: the second one must be a hit.
async fn warm(node: &TestNode, host: &str, path: &str) {
    is_hit(node, host, path).await;
    assert!(is_hit(node, host, path).await, "{host}{path} is cached");
}

#[tokio::test]
async fn purge_subcommands_turn_hits_into_misses() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let admin = node.admin_addr.to_string();
    // (host, purged path, untouched path, purge arguments, the line printed)
    let cases: &[(&str, &str, &str, &[&str], &str)] = &[
        (
            "shop.test",
            "/product/1",
            "/about",
            &["key", "product", "--host", "shop.test"],
            "purge #1 (hard): keys product on shop.test",
        ),
        (
            "shop.test",
            "/img/a?x=1",
            "/img/b",
            &["url", "http://shop.test/img/a?x=1"],
            "purge #2 (hard): /img/a?x=1 on shop.test, every variant",
        ),
        (
            "shop.test",
            "/css/site.css",
            "/js/site.js",
            &["prefix", "http://shop.test/css/"],
            "purge #3 (hard): everything under /css/ on shop.test",
        ),
        (
            "blog.test",
            "/post/1",
            "",
            &["all", "--host", "blog.test"],
            "purge #4 (hard): everything cached for blog.test",
        ),
    ];
    for (host, purged, untouched, purge_args, line) in cases {
        warm(&node, host, purged).await;
        if !untouched.is_empty() {
            warm(&node, host, untouched).await;
        }
        // Another host's copy of the same path must survive every purge but its own.
        let other = if *host == "shop.test" {
            "blog.test"
        } else {
            "shop.test"
        };
        warm(&node, other, purged).await;
        let mut args = vec!["purge"];
        args.extend_from_slice(purge_args);
        args.extend_from_slice(&["--admin", &admin, "--token", OPERATOR]);
        let out = edgecache(&args).await;
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        assert_eq!(out.stdout.trim(), *line, "{out:?}");
        assert!(
            !is_hit(&node, host, purged).await,
            "{args:?}: {host}{purged} purged"
        );
        if !untouched.is_empty() {
            assert!(
                is_hit(&node, host, untouched).await,
                "{args:?}: {untouched} kept"
            );
        }
        assert!(
            is_hit(&node, other, purged).await,
            "{args:?}: {other}{purged} kept"
        );
    }
    node.stop().await;
}

#[tokio::test]
async fn soft_purge_with_json_prints_the_api_answer_and_revalidates() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    warm(&node, "shop.test", "/product/9").await;
    let out = edgecache(&[
        "purge",
        "--soft",
        "--json",
        "key",
        "product",
        "--admin",
        &node.admin_addr.to_string(),
        "--token",
        SHOP,
    ])
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["mode"], "soft", "{json}");
    assert_eq!(json["keys"], serde_json::json!(["product"]));
    assert_eq!(
        json["hosts"],
        serde_json::json!(["shop.test"]),
        "the token's hosts"
    );
    let before = origin.count("/product/9");
    assert!(!is_hit(&node, "shop.test", "/product/9").await);
    let seen = origin.seen();
    assert_eq!(origin.count("/product/9"), before + 1);
    assert!(
        seen.last()
            .is_some_and(|s| s.headers.contains_key("if-none-match")),
        "a soft purge revalidates"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_wrong_missing_or_narrow_token_is_a_clear_error_and_purges_nothing() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let admin = node.admin_addr.to_string();
    warm(&node, "blog.test", "/post/1").await;
    let cases: &[(&[&str], &str)] = &[
        (
            &["--token", "not-a-configured-token-42"],
            "the node does not accept this admin token (unknown token); check --token / EDGECACHE_ADMIN_TOKEN",
        ),
        (
            &[],
            "no admin token: pass --token or set EDGECACHE_ADMIN_TOKEN",
        ),
        (
            &["--token", SHOP],
            "the admin token is valid but not allowed to do this (this token may not purge host `blog.test`)",
        ),
    ];
    for (token_args, message) in cases {
        let mut args = vec!["purge", "all", "--host", "blog.test", "--admin", &admin];
        args.extend_from_slice(token_args);
        let out = edgecache(&args).await;
        assert_eq!(out.code, Some(4), "{args:?}: {out:?}");
        assert!(out.stderr.contains(message), "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{out:?}");
    }
    assert!(
        is_hit(&node, "blog.test", "/post/1").await,
        "nothing purged"
    );
    // A refusal other than the token's is exit 1, with the API's message.
    let out = edgecache(&[
        "purge",
        "url",
        "not-a-url",
        "--admin",
        &admin,
        "--token",
        OPERATOR,
    ])
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("purge refused: the node answered 400 Bad Request: `not-a-url` must be an absolute http:// or https:// URL"),
        "{out:?}"
    );
    node.stop().await;
}

#[tokio::test]
async fn an_unreachable_admin_listener_is_a_clear_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let admin = format!("127.0.0.1:{port}");
    for args in [
        vec!["stats", "--admin", &admin],
        vec!["health", "--admin", &admin],
        vec![
            "purge", "all", "--host", "x.test", "--admin", &admin, "--token", OPERATOR,
        ],
        vec!["reload", "--admin", &admin, "--token", OPERATOR],
    ] {
        let out = edgecache(&args).await;
        assert_eq!(out.code, Some(3), "{args:?}: {out:?}");
        assert_eq!(
            out.stderr.trim(),
            format!(
                "edgecache: cannot reach the admin listener at {admin}: connection refused — is the node running? (admin.listen / --admin)"
            ),
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn a_silent_admin_listener_times_out_within_the_bound() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    // Accept and hold every connection without answering.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let started = edgecache::clock::instant();
    let out = edgecache(&["health", "--admin", &addr, "--timeout", "1"]).await;
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "the admin listener at {addr} did not answer within 1 s"
        )),
        "{out:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    holder.abort();
}

#[tokio::test]
async fn stats_prints_a_hit_ratio_after_some_hits() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    is_hit(&node, "shop.test", "/s").await;
    for _ in 0..3 {
        assert!(is_hit(&node, "shop.test", "/s").await);
    }
    let out = edgecache(&["stats", "--admin", &node.admin_addr.to_string()]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("hit ratio"))
        .unwrap_or_else(|| panic!("no hit ratio line: {out:?}"));
    let ratio: f64 = line
        .split_whitespace()
        .nth(2)
        .and_then(|p| p.strip_suffix('%'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no percentage in {line:?}"));
    assert!((50.0..100.0).contains(&ratio), "1 miss, 3 hits: {line}");
    let raw = edgecache(&["stats", "--raw", "--admin", &node.admin_addr.to_string()]).await;
    assert!(raw.stdout.contains("# TYPE edgecache_"), "{raw:?}");
    node.stop().await;
}

#[tokio::test]
async fn the_admin_address_comes_from_the_config_file() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let file = dir.path().join("edgecache.toml");
    std::fs::write(
        &file,
        format!("[admin]\nlisten = \"{}\"\n", node.admin_addr),
    )
    .expect("write");
    let file = file.to_str().expect("utf-8");
    let out = edgecache(&["health", "--config", file]).await;
    assert_eq!((out.code, out.stdout.trim()), (Some(0), "ok"), "{out:?}");
    let out = edgecache(&["--config", file, "stats"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("hit ratio"), "{out:?}");
    node.stop().await;
    // The node is gone: health fails.
    let out = edgecache(&["health", "--config", file]).await;
    assert_eq!(out.code, Some(3), "{out:?}");
}

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
async fn check_config_names_the_field_or_file_at_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("utf-8").to_string()
    };
    let missing_cert = dir.path().join("missing.pem");
    let cases = [
        (
            write("good.toml", "[server]\ndrain_timeout_secs = 5\n"),
            0,
            "good.toml: ok",
        ),
        (
            write(
                "short-token.toml",
                "[[admin.tokens]]\ntoken = \"short\"\nhosts = [\"*\"]\n",
            ),
            2,
            "admin.tokens[0].token",
        ),
        (
            write("typo.toml", "[server]\ndrain_timeout_secs = \"soon\"\n"),
            2,
            "drain_timeout_secs",
        ),
        (
            write(
                "cert.toml",
                &format!(
                    "[[https]]\nlisten = \"127.0.0.1:0\"\ncertificates = [{{ cert_file = \"{}\", key_file = \"{}\" }}]\n",
                    missing_cert.display(),
                    dir.path().join("missing.key").display()
                ),
            ),
            2,
            "missing.pem",
        ),
    ];
    for (file, code, needle) in cases {
        let out = edgecache(&["check-config", &file]).await;
        assert_eq!(out.code, Some(code), "{file}: {out:?}");
        let text = if code == 0 { &out.stdout } else { &out.stderr };
        assert!(text.contains(needle), "{file}: {out:?}");
    }
}
