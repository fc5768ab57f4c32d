//! HTTPS, HTTP/2 over TLS and HTTP/3 against a real node and a real origin
//! on loopback, with certificates made in the test.

use crate::support;

use edgecache::config::{CertificateConfig, Config, HttpsConfig};
use std::time::Duration;
use support::tls::{self as t, H1, H3};
use support::{Origin, TestNode, reply, test_config, wait_until};

fn https(certs: &[&t::TestCert], http3: bool) -> HttpsConfig {
    let mut h = HttpsConfig::self_signed("127.0.0.1:0".parse().expect("addr"));
    h.self_signed = false;
    h.http3 = http3;
    h.certificates = certs
        .iter()
        .map(|c| CertificateConfig {
            cert_file: c.cert_file.clone(),
            key_file: c.key_file.clone(),
        })
        .collect();
    h
}

async fn origin() -> Origin {
    Origin::start(|seen| {
        let proto = seen
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        reply(
            200,
            &[("cache-control", "max-age=300")],
            format!("{} via {proto}", seen.path),
        )
    })
    .await
}

fn node_config(origin: &Origin, dir: &std::path::Path, h: HttpsConfig) -> Config {
    let mut cfg = test_config(&origin.url(), dir);
    cfg.https.push(h);
    cfg
}

/// RFC 6066 §3: the certificate follows SNI, with a default for names the
/// node does not know; the https resource is cached under its own key and
/// the origin is told the scheme.
#[tokio::test]
async fn sni_picks_the_certificate_and_https_is_cached_under_its_own_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = t::self_signed(dir.path(), "a", &["a.test"]);
    let b = t::self_signed(dir.path(), "b", &["b.test", "*.b.test"]);
    let origin = origin().await;
    let node = TestNode::start(node_config(&origin, dir.path(), https(&[&a, &b], false))).await;
    let addr = node.https_addrs[0];
    let client = t::client_config(&[&a.der, &b.der], &[b"http/1.1"]);

    for (sni, want) in [
        ("a.test", &a),
        ("b.test", &b),
        ("www.b.test", &b),
        ("other.test", &a),
    ] {
        let tls = t::connect(addr, sni, client.clone()).await;
        if sni == "other.test" {
            // The default certificate does not name other.test: a checking
            // client refuses it, which is the point of a default.
            assert!(tls.is_err(), "{sni}: default certificate must not verify");
            continue;
        }
        let tls = tls.expect("handshake");
        assert_eq!(&t::peer_cert(&tls), &want.der, "{sni}");
    }

    let mut conn = H1::over(
        t::connect(addr, "a.test", client.clone())
            .await
            .expect("tls"),
    )
    .await;
    let first = conn.get("a.test", "/page").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, "/page via https");
    assert!(
        first.cache_status().contains("fwd=uri-miss"),
        "{}",
        first.cache_status()
    );
    let second = conn.get("a.test", "/page").await;
    assert!(
        second.cache_status().contains("hit"),
        "{}",
        second.cache_status()
    );
    assert_eq!(origin.count("/page"), 1);

    // The same path over plain HTTP is another resource (scheme in the key).
    let plain = support::send("GET", &node.url("/page"), &[("host", "a.test")]).await;
    assert_eq!(plain.text(), "/page via http");
    assert_eq!(origin.count("/page"), 2);
    node.stop().await;
}

/// Certificates are swapped by the admin call while a connection is open:
/// the open connection keeps working, new handshakes get the new
/// certificate, and a broken file keeps the one in use.
#[tokio::test]
async fn certificates_reload_under_live_connections() {
    let dir = tempfile::tempdir().expect("tmp");
    let old = t::self_signed(dir.path(), "site", &["site.test"]);
    let origin = origin().await;
    let mut cfg = node_config(&origin, dir.path(), https(&[&old], false));
    cfg.admin.tokens.push(edgecache::config::TokenConfig {
        token: "admin-token-0123456789".into(),
        hosts: vec!["*".into()],
    });
    let node = TestNode::start(cfg).await;
    let addr = node.https_addrs[0];
    let mut live = H1::over(
        t::connect(addr, "site.test", t::client_config(&[&old.der], &[]))
            .await
            .expect("tls"),
    )
    .await;
    assert_eq!(live.get("site.test", "/1").await.status, 200);

    let new = t::self_signed(dir.path(), "site", &["site.test"]);
    let reload = || {
        support::admin(
            node.admin_addr,
            "/admin/tls/reload",
            Some("admin-token-0123456789"),
            &[],
            "",
        )
    };
    let (status, body) = reload().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        live.get("site.test", "/2").await.status,
        200,
        "open connection kept"
    );
    let both = t::client_config(&[&old.der, &new.der], &[]);
    let tls = t::connect(addr, "site.test", both.clone())
        .await
        .expect("tls");
    assert_eq!(
        t::peer_cert(&tls),
        new.der,
        "new handshakes get the new certificate"
    );

    std::fs::write(&new.key_file, "-----BEGIN PRIVATE KEY-----\ngarbage\n").expect("write");
    let (status, body) = reload().await;
    assert_eq!(status, 500);
    assert!(
        body.to_string().contains("site.key"),
        "the error names the file: {body}"
    );
    let tls = t::connect(addr, "site.test", both)
        .await
        .expect("still serving");
    assert_eq!(
        t::peer_cert(&tls),
        new.der,
        "a failed reload keeps the certificate in use"
    );
    let (status, _) = support::admin(
        node.admin_addr,
        "/admin/tls/reload",
        Some("wrong-token-0123456789"),
        &[],
        "",
    )
    .await;
    assert_eq!(status, 401);
    node.stop().await;
}

/// ALPN picks HTTP/2; with `http3` on, TCP responses advertise it, and an
/// HTTP/3 client gets the response the TLS client cached.
#[tokio::test]
async fn h2_by_alpn_alt_svc_and_http3_share_the_cache() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = t::self_signed(dir.path(), "c", &["localhost"]);
    let origin = origin().await;
    let node = TestNode::start(node_config(&origin, dir.path(), https(&[&cert], true))).await;
    let addr = node.https_addrs[0];
    let authority = format!("localhost:{}", addr.port());

    let tls = t::connect(
        addr,
        "localhost",
        t::client_config(&[&cert.der], &[b"h2", b"http/1.1"]),
    )
    .await
    .expect("tls");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let got = t::h2_get(tls, &authority, "/shared").await;
    assert_eq!(got.version, http::Version::HTTP_2);
    assert_eq!(got.body, "/shared via https");
    assert_eq!(
        got.header("alt-svc"),
        Some(format!("h3=\":{}\"; ma=86400", addr.port()).as_str())
    );

    let mut h3 = H3::connect(addr, "localhost", &cert.der).await;
    let hit = h3.get(&authority, "/shared").await;
    assert_eq!(hit.status, 200);
    assert_eq!(hit.version, http::Version::HTTP_3);
    assert_eq!(hit.body, "/shared via https");
    assert!(hit.cache_status().contains("hit"), "{}", hit.cache_status());
    let miss = h3.get(&authority, "/h3-only").await;
    assert!(
        miss.cache_status().contains("fwd=uri-miss"),
        "{}",
        miss.cache_status()
    );
    assert!(
        h3.get(&authority, "/h3-only")
            .await
            .cache_status()
            .contains("hit")
    );
    assert_eq!(origin.count("/shared"), 1);
    assert_eq!(origin.count("/h3-only"), 1);
    let via = origin
        .seen()
        .iter()
        .find(|s| s.path == "/h3-only")
        .map(|s| s.headers.clone());
    let via = via.expect("seen");
    assert!(
        via.get("via")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("3 "))
    );
    node.stop().await;
}

/// A client that connects and never says hello is cut at the handshake
/// timeout, not held open.
#[tokio::test]
async fn a_silent_client_is_cut_at_the_handshake_timeout() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().expect("tmp");
    let cert = t::self_signed(dir.path(), "c", &["localhost"]);
    let origin = origin().await;
    let mut h = https(&[&cert], false);
    h.handshake_timeout_secs = 1;
    let node = TestNode::start(node_config(&origin, dir.path(), h)).await;
    let started = tokio::time::Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(node.https_addrs[0])
        .await
        .expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await;
    let after = started.elapsed();
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "closed by the node: {read:?}"
    );
    // Cut at the timeout, not before: the node's clock starts after our
    // connect, so the close comes no earlier than 1 s after it began.
    assert!(
        after >= Duration::from_secs(1),
        "closed after {after:?}, before the 1 s handshake timeout"
    );
    assert!(
        after < Duration::from_secs(5),
        "closed only after {after:?}"
    );
    node.stop().await;
}

/// `client_ca_file`: without a certificate from that CA there is no
/// handshake; with one, requests are served.
#[tokio::test]
async fn client_certificates_are_checked_when_configured() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = t::self_signed(dir.path(), "c", &["localhost"]);
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    std::fs::write(dir.path().join("clients-ca.pem"), ca.pem()).expect("write");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let client_key = rcgen::KeyPair::generate().expect("key");
    let client_cert = rcgen::CertificateParams::new(vec!["client.test".to_string()])
        .expect("params")
        .signed_by(&client_key, &issuer)
        .expect("client cert");

    let origin = origin().await;
    let mut h = https(&[&cert], false);
    h.client_ca_file = Some(dir.path().join("clients-ca.pem"));
    let node = TestNode::start(node_config(&origin, dir.path(), h)).await;
    let addr = node.https_addrs[0];

    let anonymous = t::client_config(&[&cert.der], &[]);
    let refused = async move {
        let tls = t::connect(addr, "localhost", anonymous).await?;
        let mut c = H1::over(tls).await;
        Ok::<_, std::io::Error>(c.get("localhost", "/x").await.status)
    };
    // TLS 1.3 reports the refusal on the first read, so the request fails.
    let outcome = tokio::spawn(refused).await;
    assert!(
        !matches!(outcome, Ok(Ok(200))),
        "no client certificate, no service"
    );

    let mut store = rustls::RootCertStore::empty();
    store.add(cert.der.clone()).expect("root");
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let with_cert = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(store)
        .with_client_auth_cert(
            vec![client_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(client_key.serialize_der().into()),
        )
        .expect("client auth");
    let tls = t::connect(addr, "localhost", std::sync::Arc::new(with_cert))
        .await
        .expect("tls");
    assert_eq!(H1::over(tls).await.get("localhost", "/x").await.status, 200);
    node.stop().await;
}

/// Broken certificate files stop the start with the file named.
#[tokio::test]
async fn bad_certificate_files_are_start_up_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = t::self_signed(dir.path(), "a", &["a.test"]);
    let b = t::self_signed(dir.path(), "b", &["b.test"]);
    let origin = origin().await;
    // a's certificate with b's key.
    let mut h = https(&[&a], false);
    h.certificates[0].key_file = b.key_file.clone();
    let err = edgecache::node::start(node_config(&origin, dir.path(), h))
        .await
        .err()
        .expect("refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("a.crt") && msg.contains("does not belong"),
        "{msg}"
    );
    let mut h = https(&[&a], false);
    h.certificates[0].cert_file = dir.path().join("missing.crt");
    let err = edgecache::node::start(node_config(&origin, dir.path(), h))
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("missing.crt"), "{err:#}");
}

/// Session tickets: a second connection from the same client resumes
/// without a full handshake, on TLS 1.3 and on TLS 1.2.
#[tokio::test]
async fn sessions_resume_with_tickets() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = t::self_signed(dir.path(), "c", &["localhost"]);
    let origin = origin().await;
    let node = TestNode::start(node_config(&origin, dir.path(), https(&[&cert], false))).await;
    let addr = node.https_addrs[0];
    let versions: [&[&'static rustls::SupportedProtocolVersion]; 2] =
        [&[&rustls::version::TLS13], &[&rustls::version::TLS12]];
    for v in versions {
        let mut store = rustls::RootCertStore::empty();
        store.add(cert.der.clone()).expect("root");
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = std::sync::Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(v)
                .expect("versions")
                .with_root_certificates(store)
                .with_no_client_auth(),
        );
        let kinds = {
            let mut kinds = Vec::new();
            for _ in 0..2 {
                let tls = t::connect(addr, "localhost", cfg.clone())
                    .await
                    .expect("tls");
                let mut c = H1::over(tls).await;
                // A request first: TLS 1.3 tickets arrive after the handshake.
                assert_eq!(c.get("localhost", "/r").await.status, 200);
                kinds.push(c.handshake_kind());
            }
            kinds
        };
        assert_eq!(
            kinds,
            [
                Some(rustls::HandshakeKind::Full),
                Some(rustls::HandshakeKind::Resumed)
            ],
            "{v:?}"
        );
    }
    node.stop().await;
}

/// Drain: an HTTP/3 request in flight when the node stops still completes,
/// (the origin holds it on another worker thread while the node stops).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http3_requests_in_flight_finish_during_drain() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = t::self_signed(dir.path(), "c", &["localhost"]);
    let origin = Origin::start(|seen| {
        if seen.path == "/slow" {
            // A slow origin: the behaviour under test (a request in flight).
            std::thread::sleep(Duration::from_millis(700));
        }
        reply(200, &[], "done")
    })
    .await;
    let node = TestNode::start(node_config(&origin, dir.path(), https(&[&cert], true))).await;
    let addr = node.https_addrs[0];
    let authority = format!("localhost:{}", addr.port());
    let mut h3 = H3::connect(addr, "localhost", &cert.der).await;
    let in_flight = tokio::spawn(async move { h3.get(&authority, "/slow").await });
    wait_until(
        "the request to reach the origin",
        Duration::from_secs(10),
        || origin.count("/slow") == 1,
    )
    .await;
    node.stop().await;
    let got = in_flight.await.expect("request task");
    assert_eq!((got.status, &got.body[..]), (200, &b"done"[..]));
}

/// No domain fronting: a request for a host that would get another
/// certificate than the connection's SNI chose is answered 421 (RFC 9110
/// §15.5.20); hosts sharing the certificate may share the connection.
#[tokio::test]
async fn a_host_outside_the_connections_certificate_gets_421() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = t::self_signed(dir.path(), "a", &["a.test"]);
    let b = t::self_signed(dir.path(), "b", &["b.test", "*.b.test"]);
    let origin = origin().await;
    let node = TestNode::start(node_config(&origin, dir.path(), https(&[&a, &b], false))).await;
    let addr = node.https_addrs[0];
    let client = t::client_config(&[&a.der, &b.der], &[b"http/1.1"]);
    let mut conn = H1::over(
        t::connect(addr, "b.test", client.clone())
            .await
            .expect("tls"),
    )
    .await;
    assert_eq!(conn.get("b.test", "/x").await.status, 200);
    assert_eq!(
        conn.get("www.b.test", "/x").await.status,
        200,
        "same certificate"
    );
    let fronted = conn.get("a.test", "/secret").await;
    assert_eq!(fronted.status, 421);
    assert_eq!(origin.count("/secret"), 0);
    let tls = t::connect(
        addr,
        "b.test",
        t::client_config(&[&a.der, &b.der], &[b"h2"]),
    )
    .await
    .expect("tls");
    assert_eq!(t::h2_get(tls, "a.test", "/secret").await.status, 421);
    assert_eq!(origin.count("/secret"), 0);
    node.stop().await;
}

/// An HTTP/3 upload streams to the origin and the origin's answer comes
/// back whole (a POST passes through, uncached).
#[tokio::test]
async fn http3_uploads_reach_the_origin() {
    use http_body_util::BodyExt;
    let dir = tempfile::tempdir().expect("tmp");
    let cert = t::self_signed(dir.path(), "c", &["localhost"]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let svc = hyper::service::service_fn(
                |req: http::Request<hyper::body::Incoming>| async move {
                    let body = req.into_body().collect().await?.to_bytes();
                    let mut echoed = b"echo:".to_vec();
                    echoed.extend_from_slice(&body);
                    Ok::<_, hyper::Error>(http::Response::new(edgecache::body::full(echoed)))
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc),
            );
        }
    });
    let mut cfg = test_config(&format!("http://{origin_addr}"), dir.path());
    cfg.https.push(https(&[&cert], true));
    let node = TestNode::start(cfg).await;
    let addr = node.https_addrs[0];
    let authority = format!("localhost:{}", addr.port());
    let mut h3 = H3::connect(addr, "localhost", &cert.der).await;
    let got = h3
        .request("POST", &authority, "/upload", &["one,", "two,", "three"])
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, "echo:one,two,three");
    node.stop().await;
}

/// The real binary reloads its certificates on SIGHUP.
#[tokio::test]
async fn sighup_reloads_certificates_in_the_real_binary() {
    let dir = tempfile::tempdir().expect("tmp");
    let old = t::self_signed(dir.path(), "site", &["site.test"]);
    let origin = origin().await;
    let config = dir.path().join("edgecache.toml");
    std::fs::write(
        &config,
        format!(
            "origin = \"{}\"\n[[https]]\nlisten = \"127.0.0.1:0\"\ncertificates = [{{ cert_file = \"{}\", key_file = \"{}\" }}]\n",
            origin.url(),
            old.cert_file.display(),
            old.key_file.display()
        ),
    )
    .expect("config");
    let data = dir.path().join("data");
    let mut proc = support::process::spawn(&["--config", config.to_str().expect("utf-8")], &data);
    let https_line = || {
        proc.log
            .lock()
            .lines()
            .find(|l| l.contains("listening (HTTPS"))
            .and_then(|l| l.split("addr=").nth(1).map(|a| a.trim().to_string()))
    };
    let mut addr = None;
    for _ in 0..200 {
        addr = https_line();
        if addr.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let addr: std::net::SocketAddr = addr.expect("HTTPS listener logged").parse().expect("addr");
    let new = t::self_signed(dir.path(), "site", &["site.test"]);
    proc.signal("-HUP");
    let both = t::client_config(&[&old.der, &new.der], &[]);
    let mut served = None;
    for _ in 0..200 {
        let tls = t::connect(addr, "site.test", both.clone())
            .await
            .expect("tls");
        served = Some(t::peer_cert(&tls));
        if served.as_ref() == Some(&new.der) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        served,
        Some(new.der.clone()),
        "new certificate after SIGHUP"
    );
    // The log line may reach the test's reader just after the swap.
    for _ in 0..200 {
        if proc.log.lock().contains("certificates reloaded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(proc.log.lock().contains("certificates reloaded"));
    proc.signal("-TERM");
    assert!(proc.wait(30).success());
}
