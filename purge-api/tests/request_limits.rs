//! What the router refuses before a purge is made, and how it treats the
//! async runtime: authentication before the body, body and batch limits,
//! unknown query parameters, and purges kept off the async workers.

use axum::Router;
use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use purge_api::{ApiConfig, Mode, Purger, Token, Tokens, router};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tower::ServiceExt;

const A: &str = "token-for-a-test-0001";

/// Records purges; `hold` makes each purge wait (blocking its thread) until
/// released, or until 5 s pass.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    hold: Option<(Mutex<std::sync::mpsc::Receiver<()>>, AtomicBool)>,
    released_by_test: AtomicBool,
}

impl Recorder {
    fn record(&self, s: String) -> Result<u64, String> {
        if let Some((release, entered)) = &self.hold {
            entered.store(true, Ordering::SeqCst);
            let rx = release.lock();
            let released = rx.recv_timeout(Duration::from_secs(5)).is_ok();
            self.released_by_test.store(released, Ordering::SeqCst);
        }
        let mut c = self.calls.lock();
        c.push(s);
        Ok(c.len() as u64)
    }
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

fn app_with(rec: Arc<Recorder>) -> Router {
    let tokens = Tokens::new(vec![Token::new(
        A,
        vec!["a.test".into(), "b.test".into(), "c.test".into()],
    )]);
    router(
        rec,
        ApiConfig {
            tokens,
            max_batch: 3,
            max_hosts: 2,
            max_key_bytes: 16,
            max_body_bytes: 256,
        },
    )
}

async fn call(app: &Router, path: &str, token: Option<&str>, body: Body) -> (StatusCode, Value) {
    let mut req = Request::post(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        app.clone().oneshot(req.body(body).expect("request")),
    )
    .await
    .expect("the router answered within 10 s")
    .expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A body that sends its first bytes and then never ends.
fn endless_body() -> Body {
    let first = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(Bytes::from_static(b"{\"keys\":"))
    });
    Body::from_stream(first.chain(futures_util::stream::pending()))
}

#[tokio::test]
async fn unauthenticated_requests_are_refused_before_the_body_is_read() {
    let rec = Arc::new(Recorder::default());
    let app = app_with(rec.clone());
    for token in [None, Some("not-a-token-at-all")] {
        let (status, json) = call(&app, "/purge/keys", token, endless_body()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
        assert_eq!(json["error"]["code"], "unauthorized", "{json}");
    }
    assert!(rec.calls.lock().is_empty());
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let rec = Arc::new(Recorder::default());
    let app = app_with(rec.clone());
    // Valid JSON, padded past 256 bytes: declared by Content-Length...
    let padded = format!("{{\"keys\":[\"k\"]{}}}", " ".repeat(300));
    let (status, json) = call(&app, "/purge/keys", Some(A), Body::from(padded.clone())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert_eq!(json["error"]["code"], "too_large", "{json}");
    // ...and streamed without a length.
    let chunks = futures_util::stream::iter(
        padded
            .into_bytes()
            .chunks(64)
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let (status, json) = call(&app, "/purge/keys", Some(A), Body::from_stream(chunks)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert!(rec.calls.lock().is_empty());
}

#[tokio::test]
async fn batch_host_and_key_limits_are_400_naming_the_limit() {
    let rec = Arc::new(Recorder::default());
    let app = app_with(rec.clone());
    let cases: &[(&str, &str, &str)] = &[
        (
            "/purge/keys",
            r#"{"keys":["k"],"hosts":["a.test","b.test","c.test"]}"#,
            "purge.max_hosts",
        ),
        (
            "/purge/key/k?host=a.test,b.test,c.test",
            "",
            "purge.max_hosts",
        ),
        ("/purge/keys", r#"{"keys":["k"],"hosts":[]}"#, "no hosts"),
        (
            "/purge/keys",
            r#"{"keys":["a","b","c","d"]}"#,
            "purge.max_batch",
        ),
        (
            "/purge/keys",
            r#"{"keys":["seventeen-bytes-k"]}"#,
            "purge.max_key_bytes",
        ),
        ("/purge/key/seventeen-bytes-k", "", "purge.max_key_bytes"),
    ];
    for (path, body, names) in cases {
        let (status, json) = call(&app, path, Some(A), Body::from(body.to_string())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {json}");
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{path} {body}: {json}");
    }
    assert!(rec.calls.lock().is_empty());
    let (status, json) = call(
        &app,
        "/purge/key/sixteen-bytes-k1?host=a.test,b.test",
        Some(A),
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "at the limits: {json}");
}

#[tokio::test]
async fn unknown_query_parameters_are_400_naming_the_parameter() {
    let rec = Arc::new(Recorder::default());
    let app = app_with(rec.clone());
    let cases: &[(&str, &str, &str)] = &[
        // The typo that used to widen a purge to every host of the token.
        ("/purge/key/k1?hosts=a.test", "", "`hosts`"),
        ("/purge/key/k1?sfot=1", "", "`sfot`"),
        (
            "/purge/keys?soft=1&host=a.test&extra=",
            r#"{"keys":["k"]}"#,
            "`extra`",
        ),
        (
            "/purge/url?Soft=1",
            r#"{"url":"http://a.test/x"}"#,
            "`Soft`",
        ),
        ("/purge/all?soft=maybe", r#"{"host":"a.test"}"#, "`soft`"),
        ("/purge/key/k1?host=a.test&host=b.test", "", "`host`"),
        (
            "/purge/url?host=b.test",
            r#"{"url":"http://a.test/x"}"#,
            "`host`",
        ),
    ];
    for (path, body, names) in cases {
        let (status, json) = call(&app, path, Some(A), Body::from(body.to_string())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {json}");
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{path}: {json}");
    }
    assert!(rec.calls.lock().is_empty(), "{:?}", rec.calls.lock());
    let (status, json) = call(
        &app,
        "/purge/key/k1?host=b.test&soft=1",
        Some(A),
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(
        rec.calls.lock().clone(),
        vec![r#"keys ["b.test"] ["k1"] Soft"#]
    );
}

/// On a one-thread runtime, a purge that blocks (as a disk commit does)
/// must not stop the runtime from answering other requests meanwhile.
#[tokio::test(flavor = "current_thread")]
async fn a_purge_waiting_on_disk_does_not_block_other_requests() {
    let (release, released) = std::sync::mpsc::channel();
    let rec = Arc::new(Recorder {
        hold: Some((Mutex::new(released), AtomicBool::new(false))),
        ..Recorder::default()
    });
    let app = app_with(rec.clone());
    let purge = tokio::spawn({
        let app = app.clone();
        async move { call(&app, "/purge/key/k1?host=a.test", Some(A), Body::empty()).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !rec
        .hold
        .as_ref()
        .is_some_and(|(_, e)| e.load(Ordering::SeqCst))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the purge never started"
        );
        tokio::task::yield_now().await;
    }
    // The purge is blocked inside the purger; another request is answered.
    let (status, _) = call(&app, "/purge/key/k2", None, Body::empty()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    release.send(()).expect("release the purge");
    let (status, json) = purge.await.expect("purge task");
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(
        rec.released_by_test.load(Ordering::SeqCst),
        "the other request was answered while the purge was still blocked"
    );
}
