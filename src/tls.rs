//! TLS for the front end, on rustls with aws-lc-rs as the only crypto
//! provider: certificates from PEM files chosen by SNI, reloaded without
//! dropping connections, and one server config per listener for TCP
//! (ALPN h2, http/1.1) and for QUIC (h3).

pub mod certificate;
pub mod resolver;
pub mod self_signed;
pub mod server_config;

use std::path::PathBuf;
use std::sync::Arc;

/// The one crypto provider the node uses, passed explicitly to every
/// rustls builder (never the process default, which a second provider in
/// the dependency graph would make ambiguous).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Why certificates or a TLS config could not be set up. Each names the
/// file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The self-signed certificate could not be generated or written.
    #[error("self-signed certificate in {path}: {message}")]
    SelfSigned {
        /// Its directory.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl TlsError {
    fn file(path: &std::path::Path, message: impl Into<String>) -> TlsError {
        TlsError::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}
