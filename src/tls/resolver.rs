//! Choosing a certificate by SNI, and swapping the whole set on reload.
//!
//! [`CertSet`] is the pure lookup: exact names first, then a `*.` wildcard
//! covering exactly one leftmost label, then the default (the first
//! certificate), which also answers clients that send no SNI. [`Resolver`]
//! holds the current set for rustls and replaces it atomically: handshakes
//! in progress keep the set they started with, established connections are
//! untouched, and a reload that fails keeps the old set.

use super::TlsError;
use super::certificate::{self, Loaded};
use crate::config::CertificateConfig;
use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

/// Certificates by name, with a default.
#[derive(Debug)]
pub struct CertSet {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl CertSet {
    /// Index `certs`; the first is the default, and an earlier certificate
    /// wins a name that two of them carry. `None` when `certs` is empty.
    pub fn new(certs: &[Loaded]) -> Option<CertSet> {
        let default = certs.first()?.key.clone();
        let (mut exact, mut wildcard) = (HashMap::new(), HashMap::new());
        for c in certs {
            for name in &c.names {
                match name.strip_prefix("*.") {
                    Some(rest) => wildcard.entry(rest.to_string()),
                    None => exact.entry(name.clone()),
                }
                .or_insert_with(|| c.key.clone());
            }
        }
        Some(CertSet {
            exact,
            wildcard,
            default,
        })
    }

    /// The certificate for a client that sent `sni` (RFC 6066 §3).
    pub fn pick(&self, sni: Option<&str>) -> &Arc<CertifiedKey> {
        let Some(name) = sni else {
            return &self.default;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.exact.get(&name) {
            return k;
        }
        // RFC 6125 §6.4.3: the wildcard stands for one whole label.
        name.split_once('.')
            .filter(|(label, _)| !label.is_empty())
            .and_then(|(_, rest)| self.wildcard.get(rest))
            .unwrap_or(&self.default)
    }
}

/// The certificates of one listener, reloadable.
#[derive(Debug)]
pub struct Resolver {
    current: ArcSwap<CertSet>,
    sources: Vec<CertificateConfig>,
    /// Served after `sources` (the generated trial certificate), not reloaded.
    extra: Vec<Loaded>,
    /// The listener, for logs.
    pub name: String,
}

impl Resolver {
    /// Load every certificate of a listener; any failure is a start-up error.
    pub fn load(
        name: String,
        sources: Vec<CertificateConfig>,
        extra: Vec<Loaded>,
    ) -> Result<Resolver, TlsError> {
        let set = Self::read(&sources, &extra)?;
        Ok(Resolver {
            current: ArcSwap::from_pointee(set),
            sources,
            extra,
            name,
        })
    }

    fn read(sources: &[CertificateConfig], extra: &[Loaded]) -> Result<CertSet, TlsError> {
        let mut loaded = Vec::with_capacity(sources.len() + extra.len());
        for c in sources {
            loaded.push(certificate::load(&c.cert_file, &c.key_file)?);
        }
        loaded.extend(extra.iter().cloned());
        for l in &loaded {
            tracing::debug!(source = %l.source, names = ?l.names, "certificate loaded");
        }
        CertSet::new(&loaded).ok_or_else(|| TlsError::SelfSigned {
            path: "https".into(),
            message: "no certificate configured".into(),
        })
    }

    /// Read the files again and swap them in. On failure the certificates
    /// in use stay, and the error (naming the file) is returned.
    pub fn reload(&self) -> Result<usize, TlsError> {
        let set = Self::read(&self.sources, &self.extra)?;
        self.current.store(Arc::new(set));
        Ok(self.sources.len() + self.extra.len())
    }
}

impl Resolver {
    /// May a connection whose handshake named `sni` serve a request for
    /// `host`? Yes when `host` would get the same certificate.
    pub fn serves(&self, sni: &str, host: &str) -> bool {
        // The usual case, without the two lookups.
        if host.eq_ignore_ascii_case(sni.trim_end_matches('.')) {
            return true;
        }
        let set = self.current.load();
        Arc::ptr_eq(set.pick(Some(sni)), set.pick(Some(host)))
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load().pick(hello.server_name()).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::PrivateKeyDer;

    fn cert(names: &[&str]) -> Loaded {
        let ck = rcgen::generate_simple_self_signed(
            names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .expect("rcgen");
        let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        certificate::from_der(vec![ck.cert.der().clone()], key, names[0]).expect("loads")
    }

    /// RFC 6066 §3 (SNI) and RFC 6125 §6.4.3 (wildcards): exact names win,
    /// a wildcard covers one label, anything else gets the default.
    #[test]
    fn picks_by_sni() {
        let certs = [
            cert(&["default.example"]),
            cert(&["a.example", "*.a.example"]),
            cert(&["www.a.example"]),
        ];
        let set = CertSet::new(&certs).expect("non-empty");
        let is = |sni: Option<&str>, i: usize| {
            assert!(
                Arc::ptr_eq(set.pick(sni), &certs[i].key),
                "{sni:?} should pick certificate {i}"
            );
        };
        for (sni, i) in [
            (None, 0),
            (Some("a.example"), 1),
            (Some("A.Example."), 1),
            (Some("x.a.example"), 1),
            (Some("www.a.example"), 2),
            (Some("y.x.a.example"), 0),
            (Some(".a.example"), 0),
            (Some("unknown.test"), 0),
            (Some("default.example"), 0),
        ] {
            is(sni, i);
        }
        assert!(CertSet::new(&[]).is_none());
    }

    #[test]
    fn a_failed_reload_keeps_the_old_certificates() {
        let dir = tempfile::tempdir().expect("tmp");
        let ck = rcgen::generate_simple_self_signed(vec!["r.example".to_string()]).expect("rcgen");
        let (cf, kf) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cf, ck.cert.pem()).expect("write");
        std::fs::write(&kf, ck.signing_key.serialize_pem()).expect("write");
        let src = CertificateConfig {
            cert_file: cf.clone(),
            key_file: kf,
        };
        let r = Resolver::load("t".into(), vec![src], Vec::new()).expect("loads");
        let before = r.current.load().pick(None).clone();
        std::fs::write(&cf, "garbage").expect("write");
        let e = r.reload().expect_err("bad file").to_string();
        assert!(e.contains("c.pem"), "{e}");
        assert!(Arc::ptr_eq(&before, r.current.load().pick(None)));
    }
}
