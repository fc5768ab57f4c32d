//! Validation of the upstream protocol and TLS fields: the protocol must
//! fit the origin's scheme, and the TLS names and files must be usable.

use super::{ConfigError, SiteConfig, UpstreamConfig, invalid};
use crate::config::Protocol;

/// Does `protocol` (named `field`) fit every server's scheme?
pub(super) fn check(
    protocol: &Protocol,
    field: &str,
    servers: &[http::Uri],
) -> Result<(), ConfigError> {
    for uri in servers {
        let https = uri.scheme_str() == Some("https");
        match (protocol, https) {
            (Protocol::H2, false) => {
                return Err(invalid(
                    field,
                    format!(
                        "`h2` is HTTP/2 over TLS and needs an https:// origin, not `{uri}`; use `h2c` for plaintext HTTP/2"
                    ),
                ));
            }
            (Protocol::H2c, true) => {
                return Err(invalid(
                    field,
                    format!(
                        "`h2c` is plaintext HTTP/2 and needs an http:// origin, not `{uri}`; use `h2` for https"
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The protocol and TLS fields of `sites[i]`, with `[upstream]` defaults.
pub(super) fn check_site(
    i: usize,
    site: &SiteConfig,
    upstream: &UpstreamConfig,
    servers: &[http::Uri],
) -> Result<(), ConfigError> {
    let (protocol, field) = match &site.protocol {
        Some(p) => (p, format!("sites[{i}].protocol")),
        None => (
            &upstream.protocol,
            format!("upstream.protocol (inherited by sites[{i}])"),
        ),
    };
    check(protocol, &field, servers)?;
    check_ca_file(
        &format!("sites[{i}].tls_ca_file"),
        site.tls_ca_file.as_deref(),
    )?;
    if let Some(name) = &site.tls_server_name
        && rustls_pki_types::ServerName::try_from(name.as_str()).is_err()
    {
        return Err(invalid(
            format!("sites[{i}].tls_server_name"),
            format!("`{name}` is not a DNS name or IP address"),
        ));
    }
    Ok(())
}

/// A CA file must be a readable file (its certificates are parsed when the
/// node builds its TLS configurations, naming the same field on error).
pub(super) fn check_ca_file(
    field: &str,
    path: Option<&std::path::Path>,
) -> Result<(), ConfigError> {
    match path {
        Some(p) if !p.is_file() => Err(invalid(
            field,
            format!("{} is not a readable file", p.display()),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_must_fit_the_scheme() {
        let http: Vec<http::Uri> = vec!["http://a:1".parse().expect("uri")];
        let https: Vec<http::Uri> = vec!["https://a".parse().expect("uri")];
        assert!(check(&Protocol::Http1, "f", &http).is_ok());
        assert!(check(&Protocol::Http1, "f", &https).is_ok());
        assert!(check(&Protocol::H2c, "f", &http).is_ok());
        assert!(check(&Protocol::H2, "f", &https).is_ok());
        let err = check(&Protocol::H2, "sites[0].protocol", &http).expect_err("h2 over http");
        assert!(err.to_string().contains("sites[0].protocol"), "{err}");
        assert!(check(&Protocol::H2c, "f", &https).is_err());
    }
}
