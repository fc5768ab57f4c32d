//! Sending one encoded export request to the collector: OTLP/HTTP
//! (`POST <endpoint>/v1/traces`, `application/x-protobuf`) or OTLP/gRPC
//! (the `TraceService/Export` unary call over h2c, framed by hand: one
//! uncompressed length-prefixed message). Both with hyper's client.

use crate::config::{OtlpProtocol, TracingConfig};
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Why an export failed.
pub type ExportError = String;

/// A client for one collector.
pub struct CollectorClient {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    protocol: OtlpProtocol,
    headers: HeaderMap,
}

impl CollectorClient {
    /// A client for the validated `[tracing]` settings.
    pub fn new(cfg: &TracingConfig) -> Result<CollectorClient, ExportError> {
        let base = cfg.endpoint().trim_end_matches('/');
        let uri = match cfg.protocol {
            OtlpProtocol::Http if base.ends_with("/v1/traces") => base.to_string(),
            OtlpProtocol::Http => format!("{base}/v1/traces"),
            OtlpProtocol::Grpc => format!("{base}{GRPC_PATH}"),
        };
        let uri: Uri = uri.parse().map_err(|e| format!("tracing.endpoint: {e}"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &cfg.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(n, v);
            }
        }
        let mut builder = Client::builder(TokioExecutor::new());
        if cfg.protocol == OtlpProtocol::Grpc {
            builder.http2_only(true);
        }
        Ok(CollectorClient {
            client: builder.build_http(),
            uri,
            protocol: cfg.protocol,
            headers,
        })
    }

    /// Send one encoded `ExportTraceServiceRequest`. The caller bounds the time.
    pub async fn send(&self, message: Vec<u8>) -> Result<(), ExportError> {
        let (content_type, body) = match self.protocol {
            OtlpProtocol::Http => ("application/x-protobuf", Bytes::from(message)),
            OtlpProtocol::Grpc => ("application/grpc", grpc_frame(&message)?),
        };
        let mut req = Request::post(self.uri.clone())
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        if self.protocol == OtlpProtocol::Grpc {
            req.headers_mut()
                .insert(header::TE, HeaderValue::from_static("trailers"));
        }
        for (n, v) in &self.headers {
            req.headers_mut().append(n.clone(), v.clone());
        }
        let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let (parts, body) = resp.into_parts();
        // Read to the end: the connection is reused, and gRPC's verdict is
        // in the trailers.
        let collected = body.collect().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("collector answered {status}"));
        }
        if self.protocol == OtlpProtocol::Grpc {
            // A trailers-only response carries grpc-status in its head.
            let grpc_status = collected
                .trailers()
                .and_then(|t| t.get("grpc-status"))
                .or_else(|| parts.headers.get("grpc-status"))
                .and_then(|v| v.to_str().ok());
            if grpc_status != Some("0") {
                return Err(format!(
                    "collector answered grpc-status {}",
                    grpc_status.unwrap_or("(none)")
                ));
            }
        }
        Ok(())
    }
}

/// A gRPC length-prefixed message: flag 0 (uncompressed), 4-byte length.
fn grpc_frame(message: &[u8]) -> Result<Bytes, ExportError> {
    let len = u32::try_from(message.len()).map_err(|_| "export request too large".to_string())?;
    let mut b = BytesMut::with_capacity(5 + message.len());
    b.put_u8(0);
    b.put_u32(len);
    b.put_slice(message);
    Ok(b.freeze())
}
