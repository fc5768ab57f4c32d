//! OpenTelemetry tracing against a real OTLP receiver on loopback (HTTP/
//! protobuf and gRPC, decoded with the opentelemetry-proto types): span
//! names, kinds and parent links, the cache attributes, W3C propagation to
//! the origin, sampling, and a collector that is down.

use crate::support;

use bytes::Bytes;
use edgecache::config::{Config, OtlpProtocol};
use http::{Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;
use parking_lot::Mutex;
use prost::Message;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use support::{Origin, TestNode, reply, send, test_config};

/// An OTLP trace receiver that keeps every span it is sent.
struct Collector {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Collector {
    async fn start(protocol: OtlpProtocol) -> Collector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind collector");
        let addr = listener.local_addr().expect("addr");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let kept = kept.clone();
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let kept = kept.clone();
                    async move { Ok::<_, Infallible>(receive(protocol, req, &kept).await) }
                });
                tokio::spawn(async move {
                    let io = TokioIo::new(stream);
                    let _ = match protocol {
                        OtlpProtocol::Http => {
                            hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, svc)
                                .await
                        }
                        OtlpProtocol::Grpc => {
                            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                .serve_connection(io, svc)
                                .await
                        }
                    };
                });
            }
        });
        Collector { addr, spans }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Poll until `done` holds for the spans received (generous deadline).
    async fn wait_for(&self, what: &str, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans.lock().clone();
            if done(&spans) {
                return spans;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never received {what}; got {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

type AnyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

/// Decode one export request, keep its spans, answer as a collector does.
async fn receive(
    protocol: OtlpProtocol,
    req: Request<hyper::body::Incoming>,
    kept: &Mutex<Vec<Span>>,
) -> Response<AnyBody> {
    let (path, ctype) = (
        req.uri().path().to_string(),
        req.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
    );
    let body = req.into_body().collect().await.expect("body").to_bytes();
    let message = match protocol {
        OtlpProtocol::Http => {
            assert_eq!(path, "/v1/traces");
            assert_eq!(ctype, "application/x-protobuf");
            body
        }
        OtlpProtocol::Grpc => {
            assert_eq!(
                path,
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
            );
            assert_eq!(ctype, "application/grpc");
            assert_eq!(body[0], 0, "uncompressed");
            let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
            assert_eq!(body.len(), 5 + len, "one length-prefixed message");
            body.slice(5..)
        }
    };
    let export = ExportTraceServiceRequest::decode(message).expect("an OTLP trace export");
    for rs in export.resource_spans {
        let service = rs.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.clone())
        });
        assert_eq!(service, Some(Value::StringValue("edgecache".into())));
        for ss in rs.scope_spans {
            kept.lock().extend(ss.spans);
        }
    }
    match protocol {
        OtlpProtocol::Http => Response::new(Full::new(Bytes::new()).boxed_unsync()),
        OtlpProtocol::Grpc => {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let frames = vec![
                // An empty ExportTraceServiceResponse, length-prefixed.
                Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0]))),
                Ok(Frame::trailers(trailers)),
            ];
            let mut resp =
                Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync());
            resp.headers_mut().insert(
                "content-type",
                http::HeaderValue::from_static("application/grpc"),
            );
            resp
        }
    }
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn attr_str<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attr(span, key)? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn attr_int(span: &Span, key: &str) -> Option<i64> {
    match attr(span, key)? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

fn attr_bool(span: &Span, key: &str) -> Option<bool> {
    match attr(span, key)? {
        Value::BoolValue(b) => Some(*b),
        _ => None,
    }
}

fn kind(span: &Span) -> SpanKind {
    SpanKind::try_from(span.kind).expect("a known kind")
}

fn server_spans(spans: &[Span]) -> Vec<&Span> {
    spans
        .iter()
        .filter(|s| kind(s) == SpanKind::Server)
        .collect()
}

fn client_spans(spans: &[Span]) -> Vec<&Span> {
    spans
        .iter()
        .filter(|s| kind(s) == SpanKind::Client)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A node tracing everything to `collector`, in small, quick batches.
fn traced_config(origin: &str, dir: &std::path::Path, collector: &str) -> Config {
    let mut cfg = test_config(origin, dir);
    cfg.tracing.enabled = true;
    cfg.tracing.endpoint = Some(collector.to_string());
    cfg.tracing.sample_ratio = 1.0;
    cfg.tracing.flush_interval_ms = 20;
    cfg
}

/// The origin's `traceparent` for the request to `path`.
fn origin_traceparent(origin: &Origin, path: &str) -> Option<String> {
    origin
        .seen()
        .iter()
        .find(|s| s.path == path)
        .and_then(|s| s.headers.get("traceparent"))
        .map(|v| v.to_str().expect("ascii").to_string())
}

/// A miss then a hit, over both OTLP protocols: the miss has a server span
/// with a CLIENT child for the origin exchange, whose id is the parent-id
/// of the traceparent the origin received; the cache attributes say miss
/// (uri-miss, stored) then hit.
#[tokio::test]
async fn miss_then_hit_export_linked_spans_with_cache_attributes() {
    for protocol in [OtlpProtocol::Http, OtlpProtocol::Grpc] {
        let collector = Collector::start(protocol).await;
        let origin =
            Origin::start(|_| reply(200, &[("cache-control", "max-age=60")], "hello")).await;
        let dir = tempfile::tempdir().expect("dir");
        let mut cfg = traced_config(&origin.url(), dir.path(), &collector.url());
        cfg.tracing.protocol = protocol;
        let node = TestNode::start(cfg).await;

        let miss = send(
            "GET",
            &node.url("/a?x=1"),
            &[("user-agent", "trace-test/1")],
        )
        .await;
        assert_eq!(miss.status, 200);
        let hit = send("GET", &node.url("/a?x=1"), &[]).await;
        assert!(hit.cache_status().contains("hit"), "{}", hit.cache_status());

        let spans = collector
            .wait_for("two server spans and a client span", |s| {
                server_spans(s).len() == 2 && client_spans(s).len() == 1
            })
            .await;
        let servers = server_spans(&spans);
        let miss_span = servers
            .iter()
            .find(|s| attr_bool(s, "edgecache.cache.hit") == Some(false))
            .expect("the miss's span");
        let hit_span = servers
            .iter()
            .find(|s| attr_bool(s, "edgecache.cache.hit") == Some(true))
            .expect("the hit's span");
        let client = client_spans(&spans)[0];

        for s in [*miss_span, *hit_span, client] {
            assert_eq!(s.name, "GET", "{protocol:?}");
            assert_eq!(attr_str(s, "http.request.method"), Some("GET"));
            assert_eq!(attr_int(s, "http.response.status_code"), Some(200));
            assert_eq!(s.flags & 1, 1, "sampled");
            assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
        }
        // The miss: its attributes, and its link to the origin exchange.
        assert!(miss_span.parent_span_id.is_empty(), "a root span");
        assert_eq!(attr_str(miss_span, "url.path"), Some("/a"));
        assert_eq!(attr_str(miss_span, "url.query"), Some("x=1"));
        assert_eq!(attr_str(miss_span, "url.scheme"), Some("http"));
        assert_eq!(attr_str(miss_span, "server.address"), Some("127.0.0.1"));
        assert_eq!(attr_str(miss_span, "client.address"), Some("127.0.0.1"));
        assert_eq!(attr_str(miss_span, "network.protocol.version"), Some("1.1"));
        assert_eq!(
            attr_str(miss_span, "user_agent.original"),
            Some("trace-test/1")
        );
        assert_eq!(
            attr_str(miss_span, "edgecache.cache_status"),
            miss.header("cache-status")
        );
        assert_eq!(attr_str(miss_span, "edgecache.cache.fwd"), Some("uri-miss"));
        assert_eq!(attr_bool(miss_span, "edgecache.cache.stored"), Some(true));
        assert_eq!(
            attr_bool(miss_span, "edgecache.cache.collapsed"),
            Some(false)
        );
        assert_eq!(attr_int(miss_span, "edgecache.cache.ttl"), Some(60));
        assert_eq!(attr_str(miss_span, "edgecache.site"), Some("default"));
        assert_eq!(attr_int(miss_span, "edgecache.purge_seq"), Some(0));
        let key = attr_str(miss_span, "edgecache.key").expect("the object key");
        assert!(
            key.len() >= 32 && key.bytes().all(|b| b.is_ascii_hexdigit()),
            "{key}"
        );
        assert_eq!(attr_int(miss_span, "http.response.body.size"), Some(5));
        assert!(miss_span.status.is_none(), "a 200 is not an error");
        // The hit: the same key, no origin exchange.
        assert_eq!(attr_str(hit_span, "edgecache.key"), Some(key));
        assert_eq!(attr_str(hit_span, "edgecache.cache.fwd"), None);
        assert_ne!(hit_span.trace_id, miss_span.trace_id, "a trace per request");

        assert_eq!(client.trace_id, miss_span.trace_id);
        assert_eq!(client.parent_span_id, miss_span.span_id);
        assert_eq!(attr_str(client, "server.address"), Some("127.0.0.1"));
        assert_eq!(
            attr_int(client, "server.port"),
            Some(i64::from(origin.addr.port()))
        );
        let want = format!("00-{}-{}-01", hex(&client.trace_id), hex(&client.span_id));
        assert_eq!(origin_traceparent(&origin, "/a?x=1"), Some(want));
        node.stop().await;
    }
}

const INCOMING_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INCOMING_PARENT: &str = "00f067aa0ba902b7";

/// A trusted client's traceparent (and tracestate) is continued: the
/// server span joins its trace under its span, and the origin gets the
/// same trace. An untrusted client's is not: a new trace, its tracestate
/// dropped. A malformed one from a trusted client is ignored, never echoed.
#[tokio::test]
async fn incoming_trace_is_continued_only_from_trusted_clients() {
    let incoming = format!("00-{INCOMING_TRACE}-{INCOMING_PARENT}-01");
    let headers = [
        ("traceparent", incoming.as_str()),
        ("tracestate", "congo=t61rcWkgMzE"),
    ];
    for trusted in [true, false] {
        let collector = Collector::start(OtlpProtocol::Http).await;
        let origin = Origin::start(|_| reply(200, &[], "x")).await;
        let dir = tempfile::tempdir().expect("dir");
        let mut cfg = traced_config(&origin.url(), dir.path(), &collector.url());
        if trusted {
            cfg.upstream.trusted_proxies = vec!["127.0.0.1/32".into()];
        }
        let node = TestNode::start(cfg).await;
        assert_eq!(send("GET", &node.url("/p"), &headers).await.status, 200);
        let spans = collector
            .wait_for("a server and a client span", |s| {
                !server_spans(s).is_empty() && !client_spans(s).is_empty()
            })
            .await;
        let (server, client) = (server_spans(&spans)[0], client_spans(&spans)[0]);
        let to_origin = origin_traceparent(&origin, "/p").expect("a traceparent upstream");
        let state_to_origin = origin.seen()[0]
            .headers
            .get("tracestate")
            .map(|v| v.to_str().expect("ascii").to_string());
        assert_eq!(client.trace_id, server.trace_id);
        assert!(to_origin.starts_with(&format!("00-{}-", hex(&server.trace_id))));
        assert_ne!(to_origin, incoming, "never the client's own value");
        if trusted {
            assert_eq!(hex(&server.trace_id), INCOMING_TRACE);
            assert_eq!(hex(&server.parent_span_id), INCOMING_PARENT);
            assert_eq!(server.trace_state, "congo=t61rcWkgMzE");
            assert_eq!(state_to_origin.as_deref(), Some("congo=t61rcWkgMzE"));
        } else {
            assert_ne!(hex(&server.trace_id), INCOMING_TRACE);
            assert!(server.parent_span_id.is_empty(), "a new root");
            assert_eq!(state_to_origin, None, "an untrusted tracestate is dropped");
        }

        if trusted {
            let bad = format!("00-{INCOMING_TRACE}-{INCOMING_PARENT}-0g");
            let got = send("GET", &node.url("/bad"), &[("traceparent", bad.as_str())]).await;
            assert_eq!(got.status, 200);
            let sent = origin_traceparent(&origin, "/bad").expect("a traceparent upstream");
            assert_ne!(sent, bad);
            assert!(!sent.contains(INCOMING_TRACE), "a new trace: {sent}");
            assert_eq!(sent.len(), 55);
        }
        node.stop().await;
    }
}

/// Tracing off (the default): no traceparent is added, and a client's own
/// is passed to the origin unchanged, as before tracing existed.
#[tokio::test]
async fn tracing_off_adds_no_traceparent_and_passes_the_clients_through() {
    let origin = Origin::start(|_| reply(200, &[], "x")).await;
    let dir = tempfile::tempdir().expect("dir");
    let node = TestNode::start(test_config(&origin.url(), dir.path())).await;
    let theirs = format!("00-{INCOMING_TRACE}-{INCOMING_PARENT}-01");
    send(
        "GET",
        &node.url("/theirs"),
        &[("traceparent", theirs.as_str())],
    )
    .await;
    send("GET", &node.url("/none"), &[]).await;
    assert_eq!(origin_traceparent(&origin, "/theirs"), Some(theirs));
    assert_eq!(origin_traceparent(&origin, "/none"), None);
    node.stop().await;
}

/// sample_ratio 0 with always_sample_errors: a 502 from a dead origin is
/// exported (its server span and the failed origin exchange, both ERROR),
/// a 200 is not; the origin is still told the trace is unsampled.
#[tokio::test]
async fn unsampled_errors_are_exported_and_successes_are_not() {
    let collector = Collector::start(OtlpProtocol::Http).await;
    let origin = Origin::start(|_| reply(200, &[], "fine")).await;
    // A port held for the test that refuses every connection.
    let reserved = support::Reserved::new();
    let dead = reserved.addr;
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = traced_config(&origin.url(), dir.path(), &collector.url());
    cfg.tracing.sample_ratio = 0.0;
    cfg.tracing.always_sample_errors = true;
    cfg.sites = toml::from_str::<Config>(&format!(
        "[[sites]]\nhosts = [\"dead.test\"]\norigin = \"http://{dead}\"\n"
    ))
    .expect("sites")
    .sites;
    let node = TestNode::start(cfg).await;

    assert_eq!(send("GET", &node.url("/ok"), &[]).await.status, 200);
    let to_origin = origin_traceparent(&origin, "/ok").expect("a traceparent upstream");
    assert!(to_origin.ends_with("-00"), "unsampled: {to_origin}");
    for path in ["/down1", "/down2"] {
        let got = send("GET", &node.url(path), &[("host", "dead.test")]).await;
        assert_eq!(got.status, 502);
        collector
            .wait_for(path, |s| {
                server_spans(s)
                    .iter()
                    .any(|s| attr_str(s, "url.path") == Some(path))
            })
            .await;
    }
    let spans = collector.spans.lock().clone();
    assert!(
        server_spans(&spans)
            .iter()
            .all(|s| attr_int(s, "http.response.status_code") == Some(502)),
        "only the errors: {spans:#?}"
    );
    let server = server_spans(&spans)[0];
    assert_eq!(server.flags & 1, 0, "not sampled");
    assert_eq!(attr_bool(server, "edgecache.sampled_for_error"), Some(true));
    assert_eq!(attr_str(server, "edgecache.site"), Some("dead.test"));
    assert_eq!(
        server.status.as_ref().map(|s| s.code),
        Some(OtlpStatus::Error as i32)
    );
    let client = client_spans(&spans)
        .into_iter()
        .find(|c| c.trace_id == server.trace_id)
        .expect("the failed origin exchange");
    assert_eq!(client.parent_span_id, server.span_id);
    assert_eq!(attr_str(client, "error.type"), Some("origin-unreachable"));
    assert_eq!(
        client.status.as_ref().map(|s| s.code),
        Some(OtlpStatus::Error as i32)
    );
    node.stop().await;
}

/// A collector that is down: every request still succeeds; the failed
/// exports and the spans lost are counted, and shown on /metrics.
#[tokio::test]
async fn collector_down_costs_spans_not_requests() {
    let origin = Origin::start(|_| reply(200, &[("cache-control", "max-age=60")], "x")).await;
    // A port held for the test that refuses every connection.
    let reserved = support::Reserved::new();
    let down = reserved.addr;
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = traced_config(&origin.url(), dir.path(), &format!("http://{down}"));
    cfg.tracing.max_queue_spans = 4;
    cfg.tracing.max_batch_spans = 2;
    let node = TestNode::start(cfg).await;
    for i in 0..40 {
        let got = send("GET", &node.url(&format!("/r{}", i % 5)), &[]).await;
        assert_eq!(got.status, 200, "request {i}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = support::metrics(node.admin_addr).await;
        let value = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("edgecache_{name} ")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        };
        let (failures, dropped, exported) = (
            value("trace_export_failures_total"),
            value("trace_spans_dropped_total"),
            value("trace_spans_exported_total"),
        );
        assert_eq!(exported, 0);
        if failures > 0 && dropped > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "failures {failures}, dropped {dropped}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.stop().await;
}

/// Spans still queued when the node stops are sent: the batch would wait a
/// minute to fill, and the stop sends it at once.
#[tokio::test]
async fn queued_spans_are_sent_when_the_node_stops() {
    let collector = Collector::start(OtlpProtocol::Http).await;
    let origin = Origin::start(|_| reply(200, &[], "x")).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = traced_config(&origin.url(), dir.path(), &collector.url());
    cfg.tracing.flush_interval_ms = 60_000;
    let node = TestNode::start(cfg).await;
    assert_eq!(send("GET", &node.url("/last"), &[]).await.status, 200);
    node.stop().await;
    let spans = collector
        .wait_for("the server span, sent at stop", |s| {
            server_spans(s)
                .iter()
                .any(|s| attr_str(s, "url.path") == Some("/last"))
        })
        .await;
    assert_eq!(client_spans(&spans).len(), 1);
}
