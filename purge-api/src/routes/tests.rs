//! Router behaviour: auth, validation and mode, against a purger that records
//! its calls (the node's real purger is exercised by the node's tests).

use super::*;
use crate::{Token, Tokens};
use axum::body::Body as AxumBody;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use tower::ServiceExt;

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
}

impl Purger for Recorder {
    fn purge_keys(&self, hosts: &[String], keys: &[String], mode: Mode) -> Result<u64, String> {
        self.record(format!("keys {hosts:?} {keys:?} {mode:?}"))
    }
    fn purge_url(&self, host: &str, pq: &str, mode: Mode) -> Result<u64, String> {
        self.record(format!("url {host} {pq} {mode:?}"))
    }
    fn purge_prefix(&self, host: &str, prefix: &str, mode: Mode) -> Result<u64, String> {
        self.record(format!("prefix {host} {prefix} {mode:?}"))
    }
    fn purge_all(&self, host: &str, mode: Mode) -> Result<u64, String> {
        self.record(format!("all {host} {mode:?}"))
    }
    fn serves_host(&self, host: &str) -> bool {
        host.ends_with(".test")
    }
}

impl Recorder {
    fn record(&self, s: String) -> Result<u64, String> {
        let mut c = self.calls.lock();
        c.push(s);
        Ok(c.len() as u64)
    }
}

const A: &str = "token-for-a-test-0001";
const ALL: &str = "token-for-everything-1";

fn app() -> (Router, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let tokens = Tokens::new(vec![
        Token::new(A, vec!["a.test".into()]),
        Token::new(ALL, vec!["*".into()]),
    ]);
    (
        router(
            rec.clone(),
            ApiConfig {
                tokens,
                max_batch: 3,
                max_hosts: 2,
                max_key_bytes: 16,
                max_body_bytes: 256,
            },
        ),
        rec,
    )
}

async fn call(
    app: &Router,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Value) {
    let mut req = Request::post(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (n, v) in extra {
        req = req.header(*n, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(AxumBody::from(body.to_string())).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn authorises_by_token_and_host() {
    let (app, rec) = app();
    let cases: &[(&str, Option<&str>, &str, u16)] = &[
        ("/purge/url", None, r#"{"url":"http://a.test/x"}"#, 401),
        (
            "/purge/url",
            Some("not-a-token-at-all"),
            r#"{"url":"http://a.test/x"}"#,
            401,
        ),
        ("/purge/url", Some(A), r#"{"url":"http://b.test/x"}"#, 403),
        ("/purge/all", Some(A), r#"{"host":"b.test"}"#, 403),
        ("/purge/key/k1?host=b.test", Some(A), "", 403),
        ("/purge/url", Some(A), r#"{"url":"http://a.test/x"}"#, 200),
        ("/purge/url", Some(ALL), r#"{"url":"http://b.test/x"}"#, 200),
    ];
    for (path, token, body, want) in cases {
        let (status, json) = call(&app, path, *token, &[], body).await;
        assert_eq!(status.as_u16(), *want, "{path} {token:?} {body}: {json}");
        if *want != 200 {
            assert_eq!(json["error"]["status"], *want, "{json}");
            assert!(
                json["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{json}"
            );
        }
    }
    assert_eq!(
        rec.calls.lock().len(),
        2,
        "only authorised purges reach the purger"
    );
}

#[tokio::test]
async fn bad_input_is_400_never_500() {
    let (app, rec) = app();
    let cases: &[(&str, &str)] = &[
        ("/purge/keys", r#"{"keys":[]}"#),
        ("/purge/keys", r#"{"keys":["a","b","c","d"]}"#),
        ("/purge/keys", r#"{"keys":[""]}"#),
        ("/purge/keys", r#"{"keys":["has space"]}"#),
        ("/purge/keys", r#"{"nope":1}"#),
        ("/purge/keys", "not json"),
        ("/purge/url", r#"{"url":"not a url"}"#),
        ("/purge/url", r#"{"url":"/relative"}"#),
        ("/purge/url", r#"{"url":"ftp://a.test/x"}"#),
        ("/purge/url", r#"{"url":"http://unknown.example/x"}"#),
        ("/purge/prefix", "{}"),
        ("/purge/all", "{}"),
        ("/purge/all", r#"{"host":"bad host"}"#),
        // This purger is not in a fleet: refused before purging.
        ("/purge/key/k?wait=fleet", ""),
        ("/purge/key/k?wait=soon", ""),
        ("/purge/key/k?timeout_ms=5", ""),
        ("/purge/key/k?wait=fleet&timeout_ms=0", ""),
        ("/purge/key/k?wait=fleet&timeout_ms=x", ""),
        ("/purge/key/k?wait=fleet&wait=fleet", ""),
    ];
    for (path, body) in cases {
        let (status, json) = call(&app, path, Some(ALL), &[], body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {json}");
        assert_eq!(json["error"]["code"], "bad_request", "{json}");
    }
    assert!(rec.calls.lock().is_empty());
}

#[tokio::test]
async fn soft_or_hard_and_scopes() {
    let (app, rec) = app();
    let (s, j) = call(&app, "/purge/key/product-1", Some(A), &[], "").await;
    assert_eq!(
        (s, j["mode"].as_str(), j["id"].as_u64()),
        (StatusCode::OK, Some("hard"), Some(1)),
        "{j}"
    );
    call(&app, "/purge/key/product-1?soft=1", Some(A), &[], "").await;
    call(
        &app,
        "/purge/keys",
        Some(A),
        &[("fastly-soft-purge", "1")],
        r#"{"keys":["a","b"]}"#,
    )
    .await;
    call(
        &app,
        "/purge/prefix",
        Some(A),
        &[],
        r#"{"prefix":"http://a.test/img/","soft":true}"#,
    )
    .await;
    call(&app, "/purge/all", Some(ALL), &[], r#"{"host":"c.test"}"#).await;
    call(&app, "/purge/keys", Some(ALL), &[], r#"{"keys":["k"]}"#).await;
    let calls = rec.calls.lock().clone();
    assert_eq!(
        calls,
        vec![
            r#"keys ["a.test"] ["product-1"] Hard"#,
            r#"keys ["a.test"] ["product-1"] Soft"#,
            r#"keys ["a.test"] ["a", "b"] Soft"#,
            "prefix a.test /img/ Soft",
            "all c.test Hard",
            r#"keys ["*"] ["k"] Hard"#,
        ]
    );
}

/// docs/purge-api.yaml lists exactly the routes the router serves.
#[test]
fn openapi_document_matches_the_routes() {
    let doc = include_str!("../../../docs/purge-api.yaml");
    let mut documented = Vec::new();
    let mut path: Option<String> = None;
    for line in doc.lines() {
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{p}"));
        } else if let (Some(p), Some(m)) = (
            &path,
            line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')),
        ) {
            if matches!(m, "get" | "post" | "put" | "delete" | "patch") {
                documented.push((m.to_string(), p.clone()));
            }
        } else if !line.starts_with(' ') && !line.is_empty() {
            path = None;
        }
    }
    let mut served: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
}
