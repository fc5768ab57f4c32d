//! Span records as OTLP protobuf messages: the OpenTelemetry HTTP semantic
//! conventions (server and client spans) plus this node's cache attributes.
//! docs/tracing.md lists them.

use super::cache_outcome;
use super::record::{BodyEnd, ClientFacts, Detail, ServerFacts, SpanRecord};
use http::{Method, Version};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

/// One export request for `spans`, from the service `service_name`.
pub fn request(service_name: &str, spans: Vec<SpanRecord>) -> ExportTraceServiceRequest {
    let resource = Resource {
        attributes: vec![
            string("service.name", service_name),
            string("service.version", env!("CARGO_PKG_VERSION")),
            string("telemetry.sdk.name", "edgecache"),
            string("telemetry.sdk.language", "rust"),
        ],
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "edgecache".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans: spans.into_iter().map(span).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn span(r: SpanRecord) -> Span {
    let mut attrs = Vec::with_capacity(24);
    let method = known_method(&r.method);
    attrs.push(string("http.request.method", method.unwrap_or("_OTHER")));
    if method.is_none() {
        attrs.push(string("http.request.method_original", r.method.as_str()));
    }
    if !r.sampled {
        attrs.push(boolean("edgecache.sampled_for_error", true));
    }
    let (kind, error) = match r.detail {
        Detail::Server(f) => (SpanKind::Server, server(*f, &mut attrs)),
        Detail::Client(f) => (SpanKind::Client, client(*f, &mut attrs)),
    };
    let status = error.map(|message| Status {
        message,
        code: OtlpStatus::Error as i32,
    });
    Span {
        trace_id: r.trace_id.to_bytes().to_vec(),
        span_id: r.span_id.to_bytes().to_vec(),
        parent_span_id: r.parent.map(|p| p.to_bytes().to_vec()).unwrap_or_default(),
        trace_state: r
            .tracestate
            .and_then(|v| v.to_str().ok().map(str::to_string))
            .unwrap_or_default(),
        flags: u32::from(r.sampled),
        // Semantic conventions: `{method}` when there is no route template.
        name: method.unwrap_or("HTTP").to_string(),
        kind: kind as i32,
        start_time_unix_nano: r.start_unix_nanos,
        end_time_unix_nano: r.end_unix_nanos,
        attributes: attrs,
        status,
        ..Default::default()
    }
}

/// Server span attributes; the error message when the span failed (5xx,
/// or a body that failed mid-stream).
fn server(f: ServerFacts, attrs: &mut Vec<KeyValue>) -> Option<String> {
    attrs.push(string("url.scheme", f.scheme.as_str()));
    attrs.push(string("url.path", f.uri.path()));
    if let Some(q) = f.uri.query() {
        attrs.push(string("url.query", q));
    }
    let authority = f
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            f.host
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        });
    if let Some(a) = authority.and_then(|a| a.parse::<http::uri::Authority>().ok()) {
        attrs.push(string("server.address", a.host()));
        if let Some(p) = a.port_u16() {
            attrs.push(int("server.port", i64::from(p)));
        }
    }
    attrs.push(string("client.address", &f.peer.ip().to_string()));
    attrs.push(int("client.port", i64::from(f.peer.port())));
    attrs.push(string("network.protocol.name", "http"));
    attrs.push(string(
        "network.protocol.version",
        protocol_version(f.version),
    ));
    if let Some(ua) = f.user_agent.as_ref().and_then(|v| v.to_str().ok()) {
        attrs.push(string("user_agent.original", ua));
    }
    attrs.push(int(
        "http.response.status_code",
        i64::from(f.status.as_u16()),
    ));
    attrs.push(int("http.response.body.size", f.body_bytes as i64));
    if let Some(cs) = f.cache_status.as_ref().and_then(|v| v.to_str().ok()) {
        attrs.push(string("edgecache.cache_status", cs));
        let o = cache_outcome::parse(cs);
        attrs.push(boolean("edgecache.cache.hit", o.hit));
        if let Some(fwd) = o.fwd {
            attrs.push(string("edgecache.cache.fwd", fwd));
        }
        if let Some(s) = o.fwd_status {
            attrs.push(int("edgecache.cache.fwd_status", s));
        }
        attrs.push(boolean("edgecache.cache.stored", o.stored));
        attrs.push(boolean("edgecache.cache.collapsed", o.collapsed));
        if let Some(ttl) = o.ttl {
            attrs.push(int("edgecache.cache.ttl", ttl));
        }
        if let Some(d) = o.detail {
            attrs.push(string("edgecache.cache.detail", d));
        }
    }
    if let Some(n) = f.node {
        if let Some(site) = &n.site {
            attrs.push(string("edgecache.site", site));
        }
        if let Some(key) = &n.key {
            attrs.push(string("edgecache.key", key));
        }
        attrs.push(int("edgecache.purge_seq", n.purge_seq as i64));
    }
    match f.end {
        BodyEnd::Complete => {}
        BodyEnd::Aborted => attrs.push(boolean("edgecache.response.aborted", true)),
        BodyEnd::Failed(e) => {
            attrs.push(string("error.type", "response_body"));
            return Some(e);
        }
    }
    if f.status.is_server_error() {
        attrs.push(string("error.type", f.status.as_str()));
        return Some(String::new());
    }
    None
}

/// Client span attributes; the error message when the exchange failed or
/// the origin answered 4xx or 5xx (semantic conventions for client spans).
fn client(f: ClientFacts, attrs: &mut Vec<KeyValue>) -> Option<String> {
    attrs.push(string("server.address", &f.server_address));
    attrs.push(int("server.port", i64::from(f.server_port)));
    attrs.push(string(
        "url.full",
        &format!("{}{}", f.origin, f.path_and_query),
    ));
    if f.resend_count > 0 {
        attrs.push(int("http.request.resend_count", i64::from(f.resend_count)));
    }
    match f.outcome {
        Ok((status, version)) => {
            attrs.push(string("network.protocol.name", "http"));
            attrs.push(string(
                "network.protocol.version",
                protocol_version(version),
            ));
            attrs.push(int("http.response.status_code", i64::from(status.as_u16())));
            if status.as_u16() >= 400 {
                attrs.push(string("error.type", status.as_str()));
                return Some(String::new());
            }
            None
        }
        Err(kind) => {
            attrs.push(string("error.type", kind));
            Some(kind.to_string())
        }
    }
}

/// The method's name when the semantic conventions know it.
fn known_method(m: &Method) -> Option<&'static str> {
    Some(match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => match m.as_str() {
            "PURGE" => "PURGE",
            "QUERY" => "QUERY",
            _ => return None,
        },
    })
}

fn protocol_version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn string(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.to_string()))
}

fn int(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

fn boolean(key: &str, v: bool) -> KeyValue {
    kv(key, any_value::Value::BoolValue(v))
}
