//! The rustls server configuration of one `[[https]]` listener: TLS 1.3
//! and 1.2 with the provider's default (AEAD, forward-secret) suites,
//! post-quantum hybrid key exchange first, tickets with rotating keys,
//! optional client certificates, and the listener's ALPN list.

use super::resolver::Resolver;
use super::{TlsError, certificate};
use crate::config::{ClientAuth, HttpsConfig, TlsVersion};
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use std::sync::Arc;

/// ALPN for TLS over TCP: HTTP/2 first, then HTTP/1.1.
pub const ALPN_TCP: [&[u8]; 2] = [b"h2", b"http/1.1"];
/// ALPN for QUIC.
pub const ALPN_H3: [&[u8]; 1] = [b"h3"];

/// Build the server config of listener `cfg`, serving `resolver`'s
/// certificates and offering `alpn`.
pub fn build(
    cfg: &HttpsConfig,
    resolver: Arc<Resolver>,
    alpn: &[&[u8]],
    tls13_only: bool,
) -> Result<ServerConfig, TlsError> {
    let versions: &[&'static rustls::SupportedProtocolVersion] =
        if tls13_only || cfg.min_tls_version == TlsVersion::Tls13 {
            &[&rustls::version::TLS13]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
    let provider = super::provider();
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions)?;
    let builder = match &cfg.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in certificate::read_chain(path)? {
                roots.add(ca).map_err(|e| TlsError::File {
                    path: path.clone(),
                    message: format!("not a usable CA certificate: {e}"),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match cfg.client_auth {
                ClientAuth::Required => verifier,
                ClientAuth::Optional => verifier.allow_unauthenticated(),
            };
            let verifier = verifier.build().map_err(|e| TlsError::File {
                path: path.clone(),
                message: format!("cannot check client certificates: {e}"),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    if cfg.session_tickets {
        config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    }
    // 0-RTT stays off: early data could be replayed (RFC 8470).
    config.max_early_data_size = 0;
    Ok(config)
}
