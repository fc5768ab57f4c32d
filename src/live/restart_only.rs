//! What a config reload can change while running, and what it cannot.
//! Listener addresses, process and connection settings, store sizes and
//! the node-wide tunnel cap are fixed at start: a reload keeps their
//! running values and reports them as needing a restart.

use crate::config::Config;

/// The outcome of a successful reload.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Report {
    /// Changed fields that take effect only after a restart (their running
    /// values stay), e.g. `server.listen`.
    pub restart_needed: Vec<String>,
    /// Listeners whose certificate files failed to load (they keep the
    /// certificates in use).
    pub certificate_errors: Vec<String>,
}

/// Copy the restart-only settings of `running` into `new`, returning the
/// names of those that differed.
pub fn keep_restart_only(running: &Config, new: &mut Config) -> Vec<String> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident).+) => {
            if format!("{:?}", running.$($field).+) != format!("{:?}", new.$($field).+) {
                changed.push(stringify!($($field).+).replace(' ', ""));
                new.$($field).+ = running.$($field).+.clone();
            }
        };
    }
    // The listeners and the process.
    keep!(server.listen);
    keep!(server.data_dir);
    keep!(server.runtime);
    keep!(server.worker_threads);
    keep!(server.drain_timeout_secs);
    keep!(admin.listen);
    keep!(https);
    // Built into each listener's connections at start.
    keep!(server.header_read_timeout_secs);
    keep!(server.first_bytes_timeout_secs);
    keep!(server.max_connections);
    keep!(server.max_connections_per_ip);
    keep!(server.max_request_head_bytes);
    keep!(server.max_request_headers);
    keep!(server.max_uri_bytes);
    keep!(server.send_timeout_secs);
    keep!(server.h2_max_concurrent_streams);
    keep!(server.h2_keepalive_interval_secs);
    keep!(server.h2_keepalive_timeout_secs);
    keep!(server.h2_idle_timeout_secs);
    // The store, opened at start.
    keep!(storage.memory_bytes);
    keep!(storage.disk_bytes);
    keep!(storage.block_bytes);
    keep!(storage.write_policy);
    keep!(storage.eviction);
    // The node-wide tunnel cap and its drain signal.
    keep!(websocket);
    // The tracer and its export queue.
    keep!(tracing);
    keep!(access_log.queue_lines);
    // The fleet's connection, consumer and tasks, started once.
    keep!(fleet);
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_only_fields_keep_their_running_values() {
        let running = Config::default();
        let mut new = Config::default();
        new.server.listen = "127.0.0.1:1".parse().expect("addr");
        new.storage.memory_bytes += 1;
        new.fleet.node_id = Some("other".into());
        new.cache.heuristic_fraction = 0.2;
        new.admin.tokens.push(crate::config::TokenConfig {
            token: "t".repeat(32),
            hosts: vec!["*".into()],
        });
        let changed = keep_restart_only(&running, &mut new);
        assert_eq!(changed, ["server.listen", "storage.memory_bytes", "fleet"]);
        assert_eq!(new.fleet.node_id, None);
        assert_eq!(new.server.listen, running.server.listen);
        assert_eq!(new.storage.memory_bytes, running.storage.memory_bytes);
        // Live-changeable fields keep the new values.
        assert_eq!(new.cache.heuristic_fraction, 0.2);
        assert_eq!(new.admin.tokens.len(), 1);
    }

    #[test]
    fn an_unchanged_config_needs_no_restart() {
        let running = Config::default();
        let mut new = Config::default();
        assert!(keep_restart_only(&running, &mut new).is_empty());
    }
}
