//! Origins over https: a test CA (rcgen) trusted through `tls_ca_file`,
//! refusal of certificates for another name or from an untrusted issuer,
//! the loud per-site `tls_verify = false` switch, and HTTP/2 by ALPN.

use crate::support;

use edgecache::config::Protocol;
use edgecache::config::SiteConfig;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::{TestNode, get, reply, test_config};

/// A certificate chain and its key, for an origin to present.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn test_ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "edgecache test CA");
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA cert")
}

/// A certificate for `names` signed by `ca`.
fn issued_by(ca: &CertifiedIssuer<'static, KeyPair>, names: &[&str]) -> Identity {
    let key = KeyPair::generate().expect("key");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .expect("params")
        .signed_by(&key, ca)
        .expect("signed");
    Identity {
        chain: vec![cert.der().clone()],
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

/// A self-signed certificate for `names` (no CA will vouch for it).
fn self_signed(names: &[&str]) -> Identity {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).expect("self-signed");
    Identity {
        chain: vec![ck.cert.der().clone()],
        key: PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()).into(),
    }
}

/// An https origin on 127.0.0.1:0 that records the HTTP version and the
/// path of each request. `/health` answers `health_status` (200 at first).
struct TlsOrigin {
    port: u16,
    versions: Arc<Mutex<Vec<http::Version>>>,
    /// (version, path) of each request.
    requests: Arc<Mutex<Vec<(http::Version, String)>>>,
    health_status: Arc<std::sync::atomic::AtomicU16>,
    /// TLS handshakes completed.
    handshakes: Arc<AtomicUsize>,
}

async fn tls_origin(id: Identity, alpn: &[&[u8]]) -> TlsOrigin {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(id.chain, id.key)
        .expect("server certificate");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let versions = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let health_status = Arc::new(std::sync::atomic::AtomicU16::new(200));
    let handshakes = Arc::new(AtomicUsize::new(0));
    let (seen, done) = (versions.clone(), handshakes.clone());
    let (log, health) = (requests.clone(), health_status.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, seen, done) = (acceptor.clone(), seen.clone(), done.clone());
            let (log, health) = (log.clone(), health.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                done.fetch_add(1, Ordering::SeqCst);
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    seen.lock().push(req.version());
                    let path = req.uri().path().to_string();
                    log.lock().push((req.version(), path.clone()));
                    let status = if path == "/health" {
                        health.load(Ordering::SeqCst)
                    } else {
                        200
                    };
                    async move {
                        let _ = req.into_body().collect().await;
                        Ok::<Response<_>, Infallible>(reply(
                            status,
                            &[("cache-control", "max-age=60")],
                            "secure",
                        ))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    TlsOrigin {
        port,
        versions,
        requests,
        health_status,
        handshakes,
    }
}

fn write_pem(dir: &std::path::Path, pem: &str) -> std::path::PathBuf {
    let path = dir.join("ca.pem");
    std::fs::write(&path, pem).expect("write CA file");
    path
}

#[tokio::test]
async fn https_origin_trusted_through_a_ca_file_is_a_miss_then_a_hit() {
    let ca = test_ca();
    let origin = tls_origin(issued_by(&ca, &["localhost"]), &[b"http/1.1"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&format!("https://localhost:{}", origin.port), dir.path());
    cfg.upstream.tls_ca_file = Some(write_pem(dir.path(), &ca.pem()));
    let node = TestNode::start(cfg).await;
    let first = get(&node.url("/a")).await;
    assert_eq!((first.status, first.text().as_str()), (200, "secure"));
    assert!(
        first.cache_status().contains("fwd=uri-miss"),
        "{}",
        first.cache_status()
    );
    let second = get(&node.url("/a")).await;
    assert_eq!((second.status, second.text().as_str()), (200, "secure"));
    assert!(
        second.cache_status().contains("hit"),
        "{}",
        second.cache_status()
    );
    assert_eq!(*origin.versions.lock(), vec![http::Version::HTTP_11]);
    node.stop().await;
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_with_502() {
    let logs = support::logs::Logs::capture(tracing::Level::INFO);
    let ca = test_ca();
    let origin = tls_origin(issued_by(&ca, &["localhost"]), &[b"http/1.1"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The default origin is never asked (the site matches); it refuses.
    let unused = support::Reserved::new();
    let mut cfg = test_config(&unused.url(), dir.path());
    cfg.sites.push(SiteConfig {
        hosts: vec!["127.0.0.1".into()],
        origin: format!("https://localhost:{}", origin.port),
        tls_ca_file: Some(write_pem(dir.path(), &ca.pem())),
        tls_server_name: Some("other.example".into()),
        ..Default::default()
    });
    let node = TestNode::start(cfg).await;
    let got = get(&node.url("/a")).await;
    assert_eq!(got.status, 502, "{}", got.text());
    assert!(
        !got.text().contains("certificate"),
        "details stay in the log"
    );
    let log = logs.text();
    assert!(
        log.contains("tls:") && log.contains("invalid peer certificate"),
        "{log}"
    );
    assert!(origin.versions.lock().is_empty(), "no request was sent");
    node.stop().await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_unless_verification_is_switched_off() {
    let logs = support::logs::Logs::capture(tracing::Level::INFO);
    let ca = test_ca();
    let origin = tls_origin(self_signed(&["localhost"]), &[b"http/1.1"]).await;
    let url = format!("https://localhost:{}", origin.port);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&url, dir.path());
    cfg.upstream.tls_ca_file = Some(write_pem(dir.path(), &ca.pem()));
    let node = TestNode::start(cfg).await;
    let got = get(&node.url("/a")).await;
    assert_eq!(got.status, 502, "{}", got.text());
    assert!(logs.text().contains("UnknownIssuer"), "{}", logs.text());
    node.stop().await;

    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&url, dir.path());
    cfg.upstream.tls_verify = false;
    let node = TestNode::start(cfg).await;
    assert!(
        logs.text().contains("TLS CERTIFICATE CHECKING IS OFF"),
        "a loud warning at start-up: {}",
        logs.text()
    );
    let got = get(&node.url("/a")).await;
    assert_eq!((got.status, got.text().as_str()), (200, "secure"));
    node.stop().await;
}

#[tokio::test]
async fn h2_is_negotiated_by_alpn_with_an_https_origin() {
    let ca = test_ca();
    let origin = tls_origin(issued_by(&ca, &["localhost"]), &[b"h2", b"http/1.1"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&format!("https://localhost:{}", origin.port), dir.path());
    cfg.upstream.tls_ca_file = Some(write_pem(dir.path(), &ca.pem()));
    cfg.upstream.protocol = Protocol::H2;
    let node = TestNode::start(cfg).await;
    for path in ["/one", "/two", "/one"] {
        let got = get(&node.url(path)).await;
        assert_eq!((got.status, got.text().as_str()), (200, "secure"));
    }
    assert_eq!(
        *origin.versions.lock(),
        vec![http::Version::HTTP_2, http::Version::HTTP_2],
        "two misses over HTTP/2, one hit"
    );
    // Concurrent misses share the one multiplexed connection.
    let urls: Vec<String> = (0..8).map(|i| node.url(&format!("/c{i}"))).collect();
    let got = futures_util::future::join_all(urls.iter().map(|u| get(u))).await;
    assert!(got.iter().all(|g| g.status == 200));
    assert_eq!(origin.versions.lock().len(), 10);
    assert_eq!(
        origin.handshakes.load(Ordering::SeqCst),
        1,
        "one connection"
    );
    node.stop().await;
}

#[tokio::test]
async fn h2_falls_back_to_http11_when_the_origin_offers_no_h2() {
    let logs = support::logs::Logs::capture(tracing::Level::INFO);
    let ca = test_ca();
    let origin = tls_origin(issued_by(&ca, &["localhost"]), &[b"http/1.1"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&format!("https://localhost:{}", origin.port), dir.path());
    cfg.upstream.tls_ca_file = Some(write_pem(dir.path(), &ca.pem()));
    cfg.upstream.protocol = Protocol::H2;
    let node = TestNode::start(cfg).await;
    for path in ["/one", "/two"] {
        let got = get(&node.url(path)).await;
        assert_eq!((got.status, got.text().as_str()), (200, "secure"));
    }
    assert_eq!(
        *origin.versions.lock(),
        vec![http::Version::HTTP_11, http::Version::HTTP_11]
    );
    let log = logs.text();
    assert_eq!(
        log.matches("did not offer h2").count(),
        1,
        "logged once: {log}"
    );
    node.stop().await;
}

/// Active health checks reach an https origin that speaks only HTTP/2 (by
/// ALPN): the probe is a request for the configured path over HTTP/2, and
/// its answer is used. A 503 from `/health` opens the origin's breaker (a
/// request is then refused without reaching the origin); a 200 closes it.
/// (It used to check only that some request arrived over HTTP/2, which any
/// connection to an h2-only origin is: it could not tell a probe whose
/// verdict is thrown away, or a probe of the wrong path, from a working one.)
#[tokio::test]
async fn health_checks_probe_https_h2_origins() {
    let ca = test_ca();
    let origin = tls_origin(issued_by(&ca, &["localhost"]), &[b"h2"]).await;
    origin.health_status.store(503, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&format!("https://localhost:{}", origin.port), dir.path());
    cfg.upstream.tls_ca_file = Some(write_pem(dir.path(), &ca.pem()));
    cfg.upstream.protocol = Protocol::H2;
    cfg.upstream.health_check_path = Some("/health".into());
    cfg.upstream.health_check_interval_secs = 1;
    cfg.upstream.breaker_cooldown_secs = 600;
    let node = TestNode::start(cfg).await;
    let probes = || {
        origin
            .requests
            .lock()
            .iter()
            .filter(|(_, p)| p == "/health")
            .count()
    };
    // A second probe starts only after the first one's verdict was applied.
    let wait = std::time::Duration::from_secs(10);
    support::wait_until("two health probes", wait, || probes() >= 2).await;
    let down = get(&node.url("/x")).await;
    assert_ne!(down.status, 200, "{}", down.cache_status());
    assert!(
        down.cache_status().contains("origin-circuit-open"),
        "the failed probe opened the breaker: {}",
        down.cache_status()
    );
    assert!(
        origin.requests.lock().iter().all(|(_, p)| p == "/health"),
        "only probes reached the origin: {:?}",
        origin.requests.lock()
    );
    origin.health_status.store(200, Ordering::SeqCst);
    let seen = probes();
    support::wait_until("two more health probes", wait, || probes() >= seen + 2).await;
    let up = get(&node.url("/x")).await;
    assert_eq!((up.status, up.text().as_str()), (200, "secure"));
    assert!(
        origin
            .requests
            .lock()
            .iter()
            .all(|(v, _)| *v == http::Version::HTTP_2),
        "{:?}",
        origin.requests.lock()
    );
    node.stop().await;
}
