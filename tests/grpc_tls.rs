//! gRPC as clients really send it: HTTP/2 over TLS (ALPN h2) to an
//! `[[https]]` listener, through the node to an h2c gRPC origin.

use crate::grpc_origin;
use crate::support;

use edgecache::config::Protocol;
use edgecache::config::{CertificateConfig, HttpsConfig};
use grpc_origin::{Msg, grpc_origin};
use http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use support::{TestNode, test_config};
use tonic::Code;
use tonic_prost::ProstCodec;

#[tokio::test]
async fn grpc_over_tls_unary_streaming_and_errors() {
    let (url, _calls) = grpc_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = support::tls::self_signed(dir.path(), "c", &["localhost"]);
    let mut cfg = test_config(&url, dir.path());
    cfg.upstream.protocol = Protocol::H2c;
    let mut h = HttpsConfig::self_signed("127.0.0.1:0".parse().expect("addr"));
    h.self_signed = false;
    h.certificates = vec![CertificateConfig {
        cert_file: cert.cert_file.clone(),
        key_file: cert.key_file.clone(),
    }];
    cfg.https.push(h);
    let node = TestNode::start(cfg).await;
    let addr = node.https_addrs[0];
    let tls = support::tls::client_config(&[&cert.der], &[b"h2"]);
    // tonic's channel over our own TLS connector (ALPN h2).
    let connector = tower::service_fn(move |_: http::Uri| {
        let tls = tls.clone();
        async move {
            let s = support::tls::connect(addr, "localhost", tls).await?;
            assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
            Ok::<_, std::io::Error>(TokioIo::new(s))
        }
    });
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(connector)
        .await
        .expect("connect over TLS");
    let mut c = tonic::client::Grpc::new(channel);

    c.ready().await.expect("ready");
    let resp = c
        .unary(
            tonic::Request::new(Msg { text: "tls".into() }),
            PathAndQuery::from_static("/test.Echo/Unary"),
            ProstCodec::<Msg, Msg>::default(),
        )
        .await
        .expect("unary over TLS");
    assert_eq!(resp.get_ref().text, "echo tls");

    c.ready().await.expect("ready");
    let err = c
        .unary(
            tonic::Request::new(Msg { text: "x7".into() }),
            PathAndQuery::from_static("/test.Echo/Missing"),
            ProstCodec::<Msg, Msg>::default(),
        )
        .await
        .expect_err("NOT_FOUND");
    assert_eq!(
        (err.code(), err.message()),
        (Code::NotFound, "no record named x7")
    );

    c.ready().await.expect("ready");
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(4);
    tx.send(Msg { text: "one".into() }).await.expect("send");
    let mut replies = c
        .streaming(
            tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
            PathAndQuery::from_static("/test.Echo/Bidi"),
            ProstCodec::<Msg, Msg>::default(),
        )
        .await
        .expect("stream opens")
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(20), replies.message())
        .await
        .expect("in time")
        .expect("reply")
        .expect("a message");
    assert_eq!(
        first.text, "echo one",
        "a reply before the request stream ends"
    );
    tx.send(Msg { text: "two".into() }).await.expect("send");
    drop(tx);
    let second = replies.message().await.expect("reply").expect("a message");
    assert_eq!(second.text, "echo two");
    assert_eq!(replies.message().await.expect("clean end"), None);
    node.stop().await;
}
