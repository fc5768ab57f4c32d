//! One certificate chain and its key, read from PEM files: the signing key
//! is loaded by the provider, checked against the leaf, and the leaf's DNS
//! names are what SNI selects it by.

use super::TlsError;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// A loaded certificate, ready to serve.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The leaf's DNS names (subject alternative names), lower-cased;
    /// wildcards keep their `*.` prefix.
    pub names: Vec<String>,
    /// The chain and signing key for rustls.
    pub key: Arc<CertifiedKey>,
    /// Where it came from, for logs.
    pub source: String,
}

/// Read `cert_file` (chain, leaf first) and `key_file`.
pub fn load(cert_file: &Path, key_file: &Path) -> Result<Loaded, TlsError> {
    let chain = read_chain(cert_file)?;
    let der = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| TlsError::file(key_file, format!("no usable private key: {e}")))?;
    from_der(chain, der, &cert_file.display().to_string()).map_err(|m| TlsError::file(cert_file, m))
}

/// Read every certificate of a PEM file (a chain, or a CA bundle).
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::file(path, format!("cannot read: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::file(path, format!("not a PEM certificate file: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError::file(path, "holds no certificate"));
    }
    Ok(chain)
}

/// Build from DER: the key must load and match the leaf's public key.
pub fn from_der(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    source: &str,
) -> Result<Loaded, String> {
    let leaf = chain.first().ok_or("holds no certificate")?;
    let names = dns_names(leaf)?;
    let signing = super::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unsupported private key: {e}"))?;
    let key = CertifiedKey::new(chain, signing);
    key.keys_match()
        .map_err(|e| format!("the private key does not belong to the certificate: {e}"))?;
    Ok(Loaded {
        names,
        key: Arc::new(key),
        source: source.to_string(),
    })
}

fn dns_names(leaf: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let cert = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("the first certificate cannot be parsed: {e}"))?;
    Ok(cert
        .valid_dns_names()
        .map(|n| n.to_ascii_lowercase())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let ck = rcgen::generate_simple_self_signed(names).expect("rcgen");
        let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        (vec![ck.cert.der().clone()], key)
    }

    #[test]
    fn names_come_from_the_leaf() {
        let (chain, key) = pair(&["Example.COM", "*.example.com", "127.0.0.1"]);
        let l = from_der(chain, key, "t").expect("loads");
        assert_eq!(l.names, ["example.com", "*.example.com"]);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (chain, _) = pair(&["a.example"]);
        let (_, other) = pair(&["a.example"]);
        let err = from_der(chain, other, "t").expect_err("mismatch");
        assert!(err.contains("does not belong"), "{err}");
    }

    #[test]
    fn missing_and_garbage_files_name_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem at all").expect("write");
        let e = load(&junk, &junk).expect_err("junk").to_string();
        assert!(e.contains("junk.pem"), "{e}");
        let e = load(&dir.path().join("nope.pem"), &junk)
            .expect_err("missing")
            .to_string();
        assert!(e.contains("nope.pem"), "{e}");
    }
}
