//! Shared by the load clients in examples/: a certificate verifier for a
//! local, self-signed load target, and a provider offering one key-exchange
//! group (so both servers under test do the same key exchange).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// Accepts any certificate (local self-signed load target); checks the
/// handshake signature only when asked.
#[derive(Debug)]
pub struct NoCertCheck {
    /// The provider whose algorithms check signatures.
    pub provider: Arc<CryptoProvider>,
    /// Check the handshake signature (else accept it unchecked).
    pub verify_signature: bool,
}

impl ServerCertVerifier for NoCertCheck {
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
        if !self.verify_signature {
            return Ok(HandshakeSignatureValid::assertion());
        }
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if !self.verify_signature {
            return Ok(HandshakeSignatureValid::assertion());
        }
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// aws-lc-rs offering only `group` (`x25519`, `p256` or `x25519mlkem768`).
pub fn provider_with_group(group: &str) -> anyhow::Result<Arc<CryptoProvider>> {
    let kx = match group {
        "x25519" => aws_lc_rs::kx_group::X25519,
        "p256" => aws_lc_rs::kx_group::SECP256R1,
        "x25519mlkem768" => aws_lc_rs::kx_group::X25519MLKEM768,
        other => anyhow::bail!("unknown group {other} (x25519, p256, x25519mlkem768)"),
    };
    Ok(Arc::new(CryptoProvider {
        kx_groups: vec![kx],
        ..aws_lc_rs::default_provider()
    }))
}
