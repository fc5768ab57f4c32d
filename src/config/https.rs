//! `[[https]]`: TLS listeners (HTTP/1.1 and HTTP/2 by ALPN) and, on the same
//! port number over UDP, HTTP/3. docs/config.md mirrors this file.

use super::{ConfigError, invalid};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One `[[https]]` listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpsConfig {
    /// Address to listen on, e.g. `0.0.0.0:443`. Required.
    pub listen: SocketAddr,
    /// Certificates with their keys, chosen by the client's SNI (exact names
    /// first, then `*.` wildcards, from each certificate's DNS names). The
    /// first one also answers clients without SNI or with an unknown name.
    /// Default: none (then `self_signed` must be true).
    #[serde(default)]
    pub certificates: Vec<CertificateConfig>,
    /// Generate a self-signed certificate for `localhost` into
    /// `<data_dir>/tls/` on first start and serve it (after any
    /// `certificates`). For local trial only; logged as such. Default: false.
    #[serde(default)]
    pub self_signed: bool,
    /// Also serve HTTP/3 over QUIC on UDP at the same address, with the same
    /// certificates. Default: false.
    #[serde(default)]
    pub http3: bool,
    /// `ma` of the `Alt-Svc: h3=":port"` header advertised on this
    /// listener's TCP responses when `http3` is on; 0 advertises nothing.
    /// At most 31536000. Default: 86400.
    #[serde(default = "default_alt_svc")]
    pub alt_svc_max_age_secs: u64,
    /// Seconds a client may take to finish the TLS (or QUIC) handshake.
    /// 1 to 300. Default: 10.
    #[serde(default = "default_handshake")]
    pub handshake_timeout_secs: u64,
    /// Lowest TLS version accepted: `"1.2"` or `"1.3"`. Default: `"1.2"`.
    #[serde(default)]
    pub min_tls_version: TlsVersion,
    /// Stateless session resumption with tickets whose keys rotate every six
    /// hours (TLS 1.3 also resumes from a 256-entry server cache when this
    /// is off). Default: true.
    #[serde(default = "yes")]
    pub session_tickets: bool,
    /// PEM file of the CAs that sign client certificates; when set, clients
    /// are asked for a certificate. Default: none (no client certificates).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// With `client_ca_file`: `required` refuses the handshake without a
    /// valid client certificate; `optional` accepts clients without one (a
    /// presented certificate must still be valid). Default: `required`.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Seconds an HTTP/3 connection may stay silent before it is closed.
    /// 1 to 86400. Default: 30.
    #[serde(default = "default_h3_idle")]
    pub h3_idle_timeout_secs: u64,
}

/// One certificate chain and its private key, both PEM files.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// The certificate chain, leaf first. Required.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1). Required.
    pub key_file: PathBuf,
}

/// The lowest TLS version a listener accepts.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    Tls13,
}

/// Whether a listener with `client_ca_file` insists on a client certificate.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// No certificate, no handshake.
    #[default]
    Required,
    /// Clients without a certificate are served too.
    Optional,
}

fn default_alt_svc() -> u64 {
    86_400
}
fn default_handshake() -> u64 {
    10
}
fn default_h3_idle() -> u64 {
    30
}
fn yes() -> bool {
    true
}

impl HttpsConfig {
    /// A listener on `listen` serving a generated self-signed certificate
    /// (the `--https-listen` command-line option).
    pub fn self_signed(listen: SocketAddr) -> HttpsConfig {
        HttpsConfig {
            listen,
            certificates: Vec::new(),
            self_signed: true,
            http3: false,
            alt_svc_max_age_secs: default_alt_svc(),
            handshake_timeout_secs: default_handshake(),
            min_tls_version: TlsVersion::default(),
            session_tickets: true,
            client_ca_file: None,
            client_auth: ClientAuth::default(),
            h3_idle_timeout_secs: default_h3_idle(),
        }
    }

    /// The `Alt-Svc` value (RFC 7838 §3) this listener advertises once
    /// bound to `port`, if any.
    pub fn alt_svc(&self, port: u16) -> Option<String> {
        (self.http3 && self.alt_svc_max_age_secs > 0)
            .then(|| format!("h3=\":{port}\"; ma={}", self.alt_svc_max_age_secs))
    }

    /// Check listener `i`; the error names the field.
    pub fn validate(&self, i: usize, plain: SocketAddr) -> Result<(), ConfigError> {
        let field = |f: &str| format!("https[{i}].{f}");
        if self.certificates.is_empty() && !self.self_signed {
            return Err(invalid(
                field("certificates"),
                "list at least one { cert_file, key_file }, or set self_signed = true for a local trial",
            ));
        }
        // Port 0 asks the system for a free port: never a clash.
        if self.listen == plain && plain.port() != 0 {
            return Err(invalid(
                field("listen"),
                format!("{} is already server.listen", self.listen),
            ));
        }
        for (name, v, lo, hi) in [
            (
                "alt_svc_max_age_secs",
                self.alt_svc_max_age_secs,
                0,
                31_536_000,
            ),
            (
                "handshake_timeout_secs",
                self.handshake_timeout_secs,
                1,
                300,
            ),
            ("h3_idle_timeout_secs", self.h3_idle_timeout_secs, 1, 86_400),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(invalid(
                    field(name),
                    format!("must be between {lo} and {hi} seconds"),
                ));
            }
        }
        for (j, c) in self.certificates.iter().enumerate() {
            for (name, path) in [("cert_file", &c.cert_file), ("key_file", &c.key_file)] {
                if path.as_os_str().is_empty() {
                    return Err(invalid(
                        field(&format!("certificates[{j}].{name}")),
                        "must name a PEM file",
                    ));
                }
            }
        }
        Ok(())
    }
}
