//! The gRPC servers behind the node in tests/grpc.rs: a hand-written tonic
//! service (no protoc: the message type and routing are written out as
//! generated code would be) and an h2c origin that never answers. Also
//! used by tests/grpc_tls.rs, which needs only some of it.
#![allow(dead_code)]

use futures_util::StreamExt;
use parking_lot::Mutex;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::Status;
use tonic::codegen::Service;
use tonic_prost::ProstCodec;

/// The one message type of the test service.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {
    #[prost(string, tag = "1")]
    pub text: String,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type MsgStream = Pin<Box<dyn futures_util::Stream<Item = Result<Msg, Status>> + Send>>;

/// What the gRPC server saw.
#[derive(Clone, Default)]
pub struct Calls {
    /// Calls received.
    pub count: Arc<AtomicUsize>,
    /// Each call's `te` field.
    pub te: Arc<Mutex<Vec<String>>>,
}

/// `/test.Echo/Unary` echoes, `/test.Echo/Missing` answers NOT_FOUND,
/// `/test.Echo/Slow` answers after 5 s, `/test.Echo/Bidi` echoes each
/// message as it arrives and fails with NOT_FOUND on the text `fail`.
#[derive(Clone)]
struct EchoServer {
    calls: Calls,
}

impl tonic::server::NamedService for EchoServer {
    const NAME: &'static str = "test.Echo";
}

impl Service<http::Request<tonic::body::Body>> for EchoServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        self.calls.count.fetch_add(1, Ordering::SeqCst);
        let te = req
            .headers()
            .get("te")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        self.calls.te.lock().push(te);
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Msg, Msg>::default());
            let resp = match req.uri().path() {
                "/test.Echo/Unary" => grpc.unary(Unary::Echo, req).await,
                "/test.Echo/Missing" => grpc.unary(Unary::Missing, req).await,
                "/test.Echo/Slow" => grpc.unary(Unary::Slow, req).await,
                "/test.Echo/Bidi" => grpc.streaming(Bidi, req).await,
                _ => Status::unimplemented("no such method").into_http(),
            };
            Ok(resp)
        })
    }
}

#[derive(Clone, Copy)]
enum Unary {
    Echo,
    Missing,
    Slow,
}

impl Service<tonic::Request<Msg>> for Unary {
    type Response = tonic::Response<Msg>;
    type Error = Status;
    type Future = BoxFuture<Result<tonic::Response<Msg>, Status>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: tonic::Request<Msg>) -> Self::Future {
        let kind = *self;
        Box::pin(async move {
            let text = req.into_inner().text;
            match kind {
                Unary::Echo => Ok(tonic::Response::new(Msg {
                    text: format!("echo {text}"),
                })),
                Unary::Missing => Err(Status::not_found(format!("no record named {text}"))),
                Unary::Slow => {
                    // A slow origin: the behaviour under test (deadlines).
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(tonic::Response::new(Msg { text }))
                }
            }
        })
    }
}

#[derive(Clone, Copy)]
struct Bidi;

impl Service<tonic::Request<tonic::Streaming<Msg>>> for Bidi {
    type Response = tonic::Response<MsgStream>;
    type Error = Status;
    type Future = BoxFuture<Result<tonic::Response<MsgStream>, Status>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: tonic::Request<tonic::Streaming<Msg>>) -> Self::Future {
        Box::pin(async move {
            let replies = req.into_inner().map(|m| {
                let m = m?;
                if m.text == "fail" {
                    return Err(Status::not_found("the stream asked to fail"));
                }
                Ok(Msg {
                    text: format!("echo {}", m.text),
                })
            });
            Ok(tonic::Response::new(Box::pin(replies) as MsgStream))
        })
    }
}

/// A gRPC server on 127.0.0.1:0 (h2c).
pub async fn grpc_origin() -> (String, Calls) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gRPC origin");
    let addr = listener.local_addr().expect("addr");
    let calls = Calls::default();
    let server = EchoServer {
        calls: calls.clone(),
    };
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .serve_with_incoming(server, incoming)
            .await;
    });
    (format!("http://{addr}"), calls)
}

/// An h2c origin that never answers in time (and, unlike tonic, ignores
/// `grpc-timeout`): only the node can end the call.
pub async fn stalled_h2c_origin() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    // An origin that never answers in time: the behaviour under test.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok::<_, Infallible>(http::Response::new(edgecache::body::empty()))
                });
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                        .await;
            });
        }
    });
    format!("http://{addr}")
}
