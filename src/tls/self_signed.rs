//! The trial certificate: a self-signed ECDSA P-256 certificate for
//! `localhost`, generated once into `<data_dir>/tls/` and reused after.

use super::TlsError;
use super::certificate::{self, Loaded};
use std::path::Path;

/// Load the trial certificate from `dir`, generating it on first use.
pub fn load_or_create(dir: &Path) -> Result<Loaded, TlsError> {
    let (cert, key) = (dir.join("self-signed.crt"), dir.join("self-signed.key"));
    if !cert.exists() || !key.exists() {
        create(dir, &cert, &key)?;
        tracing::warn!(
            cert = %cert.display(),
            "generated a SELF-SIGNED certificate for localhost/127.0.0.1/::1: for local trial only, browsers will warn"
        );
    } else {
        tracing::warn!(
            cert = %cert.display(),
            "serving a SELF-SIGNED certificate for localhost: for local trial only"
        );
    }
    certificate::load(&cert, &key)
}

fn create(dir: &Path, cert: &Path, key: &Path) -> Result<(), TlsError> {
    let fail = |message: String| TlsError::SelfSigned {
        path: dir.to_path_buf(),
        message,
    };
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| fail(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    write_private(key, ck.signing_key.serialize_pem().as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    std::fs::write(cert, ck.cert.pem()).map_err(|e| fail(e.to_string()))?;
    Ok(())
}

/// Write a key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = load_or_create(dir.path()).expect("created");
        assert_eq!(a.names, ["localhost"]);
        let b = load_or_create(dir.path()).expect("reused");
        assert_eq!(
            a.key.cert, b.key.cert,
            "the same certificate after a restart"
        );
    }
}
