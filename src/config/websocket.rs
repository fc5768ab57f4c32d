//! `[websocket]`: WebSocket pass-through (an HTTP/1.1 Upgrade, or an HTTP/2
//! extended CONNECT, becomes a byte tunnel to the origin). Tunnels are never
//! cached; these settings bound how many there are and how long an idle one
//! lives.

use super::{ConfigError, invalid};
use serde::Deserialize;

/// Longest idle timeout: one day (as for every other duration).
const MAX_IDLE_SECS: u64 = 86_400;

/// `[websocket]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// Accept WebSocket upgrades (HTTP/1.1 `Upgrade: websocket` and HTTP/2
    /// extended CONNECT) and tunnel them to the origin. When off, an
    /// upgrade request is answered 403 and HTTP/2 does not offer extended
    /// CONNECT. `[[sites]] websocket` overrides it per site. Default: true.
    pub enabled: bool,
    /// Seconds a tunnel may carry no byte in either direction before the
    /// node closes it. Default: 300.
    pub idle_timeout_secs: u64,
    /// Most tunnels open at once to one site; one more is answered 503.
    /// Default: 10000.
    pub max_tunnels_per_site: usize,
    /// Most tunnels open at once on this node, all sites together; one more
    /// is answered 503. Default: 16384.
    pub max_tunnels: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            enabled: true,
            idle_timeout_secs: 300,
            max_tunnels_per_site: 10_000,
            max_tunnels: 16_384,
        }
    }
}

impl WebSocketConfig {
    /// Check the limits and the timeout; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_IDLE_SECS).contains(&self.idle_timeout_secs) {
            return Err(invalid(
                "websocket.idle_timeout_secs",
                format!("must be between 1 and {MAX_IDLE_SECS} seconds"),
            ));
        }
        if self.max_tunnels_per_site == 0 {
            return Err(invalid(
                "websocket.max_tunnels_per_site",
                "must be at least 1 (use `enabled = false` to refuse tunnels)",
            ));
        }
        if self.max_tunnels == 0 {
            return Err(invalid(
                "websocket.max_tunnels",
                "must be at least 1 (use `enabled = false` to refuse tunnels)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_and_the_per_site_switch_parse() {
        let text = "[websocket]\nenabled = false\nidle_timeout_secs = 60\n\
                    max_tunnels_per_site = 5\nmax_tunnels = 50\n\n\
                    [[sites]]\nhosts = [\"chat.example\"]\n\
                    origin = \"http://127.0.0.1:9\"\nwebsocket = true\n";
        let cfg: crate::config::Config = toml::from_str(text).expect("parses");
        cfg.validate().expect("valid");
        let ws = &cfg.websocket;
        assert!(!ws.enabled);
        assert_eq!(
            (
                ws.idle_timeout_secs,
                ws.max_tunnels_per_site,
                ws.max_tunnels
            ),
            (60, 5, 50)
        );
        assert_eq!(cfg.sites[0].websocket, Some(true));
        let bad = toml::from_str::<crate::config::Config>("[websocket]\nmax_tunnels = 0\n")
            .expect("parses");
        assert!(bad.validate().is_err());
    }

    #[test]
    fn defaults_are_valid_and_bad_values_name_the_field() {
        WebSocketConfig::default().validate().expect("defaults");
        let cases: [(fn(&mut WebSocketConfig), &str); 4] = [
            (|c| c.idle_timeout_secs = 0, "websocket.idle_timeout_secs"),
            (
                |c| c.idle_timeout_secs = MAX_IDLE_SECS + 1,
                "websocket.idle_timeout_secs",
            ),
            (
                |c| c.max_tunnels_per_site = 0,
                "websocket.max_tunnels_per_site",
            ),
            (|c| c.max_tunnels = 0, "websocket.max_tunnels"),
        ];
        for (spoil, field) in cases {
            let mut c = WebSocketConfig::default();
            spoil(&mut c);
            match c.validate() {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected an error, got {other:?}"),
            }
        }
    }
}
