//! TLS test support: certificates made with rcgen, and TLS, HTTP/2 and
//! HTTP/3 clients that trust exactly the roots a test gives them.

use bytes::{Buf, Bytes};
use edgecache::body::{self, Body};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A certificate and its key, as PEM files in a directory.
pub struct TestCert {
    pub der: CertificateDer<'static>,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub pem: String,
}

/// A self-signed certificate for `names`, written to `dir/<stem>.{crt,key}`.
pub fn self_signed(dir: &Path, stem: &str, names: &[&str]) -> TestCert {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).expect("rcgen");
    let cert_file = dir.join(format!("{stem}.crt"));
    let key_file = dir.join(format!("{stem}.key"));
    std::fs::write(&cert_file, ck.cert.pem()).expect("write cert");
    std::fs::write(&key_file, ck.signing_key.serialize_pem()).expect("write key");
    TestCert {
        der: ck.cert.der().clone(),
        cert_file,
        key_file,
        pem: ck.cert.pem(),
    }
}

/// A client config trusting `roots`, offering `alpn`.
pub fn client_config(
    roots: &[&CertificateDer<'static>],
    alpn: &[&[u8]],
) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add((*r).clone()).expect("root");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

pub type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// Connect to `addr` with TLS, sending `sni`.
pub async fn connect(
    addr: SocketAddr,
    sni: &str,
    cfg: Arc<rustls::ClientConfig>,
) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from(sni.to_string()).expect("server name");
    tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
}

/// The certificate the server presented on `tls`.
pub fn peer_cert(tls: &Tls) -> CertificateDer<'static> {
    tls.get_ref().1.peer_certificates().expect("certificates")[0].clone()
}

/// A response read whole.
pub struct Answer {
    pub status: u16,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn cache_status(&self) -> &str {
        self.header("cache-status").unwrap_or("")
    }
}

async fn read(resp: Response<hyper::body::Incoming>) -> Answer {
    let (parts, b) = resp.into_parts();
    Answer {
        status: parts.status.as_u16(),
        version: parts.version,
        headers: parts.headers,
        body: b.collect().await.expect("body").to_bytes(),
    }
}

/// An HTTP/1.1 keep-alive connection over `tls`.
pub struct H1(
    hyper::client::conn::http1::SendRequest<Body>,
    Option<rustls::HandshakeKind>,
);

impl H1 {
    pub async fn over(tls: Tls) -> H1 {
        let kind = tls.get_ref().1.handshake_kind();
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("h1 handshake");
        tokio::spawn(conn);
        H1(tx, kind)
    }

    /// Whether the handshake was full or resumed.
    pub fn handshake_kind(&self) -> Option<rustls::HandshakeKind> {
        self.1
    }

    pub async fn get(&mut self, host: &str, path: &str) -> Answer {
        self.0.ready().await.expect("ready");
        let req = Request::get(path)
            .header("host", host)
            .body(body::empty())
            .expect("request");
        read(self.0.send_request(req).await.expect("response")).await
    }
}

/// An HTTP/2 connection over `tls` (ALPN must have said h2).
pub async fn h2_get(tls: Tls, authority: &str, path: &str) -> Answer {
    let (mut tx, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let req = Request::get(format!("https://{authority}{path}"))
        .body(body::empty())
        .expect("request");
    read(tx.send_request(req).await.expect("response")).await
}

/// An HTTP/3 client connection to `addr` trusting `root`.
pub struct H3 {
    send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    _endpoint: quinn::Endpoint,
}

impl H3 {
    pub async fn connect(addr: SocketAddr, sni: &str, root: &CertificateDer<'static>) -> H3 {
        let tls = client_config(&[root], &[b"h3"]);
        let quic =
            quinn::crypto::rustls::QuicClientConfig::try_from((*tls).clone()).expect("quic tls");
        let mut endpoint =
            quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("endpoint");
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
        let conn = endpoint
            .connect(addr, sni)
            .expect("connect")
            .await
            .expect("QUIC handshake");
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn))
            .await
            .expect("h3 client");
        tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        H3 {
            send,
            _endpoint: endpoint,
        }
    }

    pub async fn get(&mut self, authority: &str, path: &str) -> Answer {
        self.request("GET", authority, path, &[]).await
    }

    /// Send `method` with `chunks` as separate DATA frames.
    pub async fn request(
        &mut self,
        method: &str,
        authority: &str,
        path: &str,
        chunks: &[&str],
    ) -> Answer {
        let req = Request::builder()
            .method(method)
            .uri(format!("https://{authority}{path}"))
            .body(())
            .expect("request");
        let mut stream = self.send.send_request(req).await.expect("send");
        for c in chunks {
            stream
                .send_data(Bytes::copy_from_slice(c.as_bytes()))
                .await
                .expect("data");
        }
        stream.finish().await.expect("finish");
        let resp = stream.recv_response().await.expect("response");
        let mut body = Vec::new();
        while let Some(mut chunk) = stream.recv_data().await.expect("data") {
            while chunk.has_remaining() {
                let c = chunk.chunk();
                body.extend_from_slice(c);
                let n = c.len();
                chunk.advance(n);
            }
        }
        let (parts, ()) = resp.into_parts();
        Answer {
            status: parts.status.as_u16(),
            version: parts.version,
            headers: parts.headers,
            body: Bytes::from(body),
        }
    }
}
