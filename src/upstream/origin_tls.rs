//! TLS towards `https://` origins: one rustls client configuration per site,
//! built at start-up on the aws-lc-rs provider (never the process default),
//! trusting the system roots or a configured CA file, with SNI, and
//! certificate checking on unless a site explicitly turns it off.

use crate::config::Protocol;
use crate::config::{ConfigError, invalid};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A site's TLS settings towards its origin, from config.
#[derive(Clone, Debug, Default)]
pub struct TlsSettings {
    /// CA certificates (PEM) to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Check the origin's certificate (chain and name).
    pub verify: bool,
    /// SNI and certificate name, instead of the origin URL's host.
    pub server_name: Option<String>,
}

/// What a TLS connection to one origin server needs: the shared client
/// configurations and the name to send and check.
#[derive(Clone)]
pub struct TlsConnect {
    /// ALPN `http/1.1` only: for HTTP/1.1 connections, so that an origin
    /// that gains h2 support later never picks h2 for one of them.
    http1: tokio_rustls::TlsConnector,
    /// ALPN `h2, http/1.1`, for `protocol = "h2"`.
    h2: Option<tokio_rustls::TlsConnector>,
    server_name: ServerName<'static>,
    /// No root certificate is trusted (none on the system, no CA file):
    /// every handshake would fail, so say why instead.
    no_roots: bool,
}

impl std::fmt::Debug for TlsConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnect")
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl TlsConnect {
    /// Handshake over `tcp`, offering h2 in ALPN when `want_h2` (and the
    /// protocol is `h2`). Returns the stream and whether ALPN chose h2.
    pub async fn handshake(
        &self,
        tcp: tokio::net::TcpStream,
        want_h2: bool,
    ) -> Result<(tokio_rustls::client::TlsStream<tokio::net::TcpStream>, bool), String> {
        if self.no_roots {
            return Err("no trusted root certificates: the system has none and no \
                        tls_ca_file is configured"
                .into());
        }
        let connector = match &self.h2 {
            Some(h2) if want_h2 => h2,
            _ => &self.http1,
        };
        let tls = connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake with {:?}: {e}", self.server_name))?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok((tls, h2))
    }
}

/// A site's connectors: HTTP/1.1-only, h2-first (for `protocol = "h2"`),
/// and whether no root certificate is trusted.
type Connectors = (
    tokio_rustls::TlsConnector,
    Option<tokio_rustls::TlsConnector>,
    bool,
);

/// Builds client configurations once per site, loading the system roots
/// at most once.
#[derive(Default)]
pub struct TlsConfigs {
    system: Option<Arc<RootCertStore>>,
    built: std::collections::HashMap<String, Connectors>,
}

impl TlsConfigs {
    /// The connection settings for server `uri` of a site whose settings
    /// are `tls` and protocol `protocol`; `None` for an `http://` server.
    /// `field` names the site in errors and logs (`sites[0]`, `upstream`).
    pub fn for_server(
        &mut self,
        uri: &http::Uri,
        tls: &TlsSettings,
        protocol: Protocol,
        field: &str,
    ) -> Result<Option<TlsConnect>, ConfigError> {
        if uri.scheme_str() != Some("https") {
            return Ok(None);
        }
        let name = tls
            .server_name
            .clone()
            .or_else(|| uri.host().map(|h| h.trim_matches(['[', ']']).to_string()))
            .unwrap_or_default();
        let server_name = ServerName::try_from(name.clone()).map_err(|_| {
            invalid(
                format!("{field}.tls_server_name"),
                format!("`{name}` is not a DNS name or IP address"),
            )
        })?;
        let (http1, h2, no_roots) = match self.built.get(field) {
            Some(built) => built.clone(),
            None => {
                let built = self.build(uri, tls, protocol, field)?;
                self.built.insert(field.to_string(), built.clone());
                built
            }
        };
        Ok(Some(TlsConnect {
            http1,
            h2,
            server_name,
            no_roots,
        }))
    }

    /// The connectors of one site (shared by its servers, so that they also
    /// share TLS session resumption): HTTP/1.1-only, h2 when wanted, and
    /// whether no root is trusted.
    fn build(
        &mut self,
        uri: &http::Uri,
        tls: &TlsSettings,
        protocol: Protocol,
        field: &str,
    ) -> Result<Connectors, ConfigError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("{field}.protocol"), e.to_string()))?;
        let (mut config, no_roots) = if tls.verify {
            let roots = match &tls.ca_file {
                Some(path) => Arc::new(load_ca_file(path, &format!("{field}.tls_ca_file"))?),
                None => self.system_roots(),
            };
            let empty = roots.is_empty();
            (
                builder.with_root_certificates(roots).with_no_client_auth(),
                empty,
            )
        } else {
            tracing::warn!(
                origin = %uri,
                site = field,
                "TLS CERTIFICATE CHECKING IS OFF for this origin (tls_verify = false): \
                 any certificate is accepted, so anyone on the path can impersonate it"
            );
            let verifier = Arc::new(AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            });
            (
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth(),
                false,
            )
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let h2 = (protocol == Protocol::H2).then(|| {
            let mut h2 = config.clone();
            h2.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            tokio_rustls::TlsConnector::from(Arc::new(h2))
        });
        let http1 = tokio_rustls::TlsConnector::from(Arc::new(config));
        Ok((http1, h2, no_roots))
    }

    fn system_roots(&mut self) -> Arc<RootCertStore> {
        self.system
            .get_or_insert_with(|| {
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    tracing::warn!(error = %e, "reading system root certificates");
                }
                let mut roots = RootCertStore::empty();
                let (added, ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    tracing::error!(
                        "no system root certificates found: https origins without \
                         tls_ca_file will fail"
                    );
                } else {
                    tracing::info!(added, ignored, "system root certificates loaded");
                }
                Arc::new(roots)
            })
            .clone()
    }
}

/// The CA certificates in the PEM file at `path`.
fn load_ca_file(path: &Path, field: &str) -> Result<RootCertStore, ConfigError> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(field, format!("cannot read {shown}: {e}")))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(invalid(
            field,
            format!("{shown} holds no usable CA certificate"),
        ));
    }
    Ok(roots)
}

/// `tls_verify = false`: any certificate chain and name are accepted, but
/// the handshake signatures are still checked against the certificate's
/// key with the provider's algorithms (the peer must hold that key).
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn https() -> http::Uri {
        "https://origin.example:8443".parse().expect("uri")
    }

    #[test]
    fn http_servers_get_no_tls() {
        let uri: http::Uri = "http://origin.example".parse().expect("uri");
        let tls = TlsSettings {
            verify: true,
            ..Default::default()
        };
        let got = TlsConfigs::default().for_server(&uri, &tls, Protocol::Http1, "upstream");
        assert!(got.expect("ok").is_none());
    }

    #[test]
    fn a_ca_file_without_certificates_names_the_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let tls = TlsSettings {
            ca_file: Some(path),
            verify: true,
            server_name: None,
        };
        let err = TlsConfigs::default()
            .for_server(&https(), &tls, Protocol::H2, "sites[3]")
            .expect_err("no certificate");
        assert!(err.to_string().contains("sites[3].tls_ca_file"), "{err}");
    }

    #[test]
    fn server_name_defaults_to_the_origin_host_and_can_be_overridden() {
        let tls = TlsSettings {
            verify: false,
            server_name: Some("internal.example".into()),
            ..Default::default()
        };
        let c = TlsConfigs::default()
            .for_server(&https(), &tls, Protocol::H2, "sites[0]")
            .expect("ok")
            .expect("https");
        assert_eq!(
            format!("{:?}", c.server_name),
            "DnsName(\"internal.example\")"
        );
        let tls = TlsSettings {
            verify: false,
            ..Default::default()
        };
        let c = TlsConfigs::default()
            .for_server(&https(), &tls, Protocol::Http1, "sites[0]")
            .expect("ok")
            .expect("https");
        assert_eq!(
            format!("{:?}", c.server_name),
            "DnsName(\"origin.example\")"
        );
    }
}
