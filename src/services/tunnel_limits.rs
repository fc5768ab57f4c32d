//! How many tunnels may be open: per site and on the whole node, with the
//! counters `/metrics` exports and the signal that closes every tunnel when
//! the node drains. A tunnel holds a [`TunnelPermit`] for its whole life.

use crate::config::WebSocketConfig;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Why a tunnel was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// WebSocket is off for the site (`[websocket] enabled`, `[[sites]] websocket`).
    Disabled,
    /// The site has `max_tunnels_per_site` tunnels open.
    SiteFull,
    /// The node has `max_tunnels` tunnels open.
    NodeFull,
    /// The node is draining: no new tunnels.
    Draining,
}

impl Refused {
    /// The reason, for logs and the response body.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Disabled => "WebSocket is not enabled for this site",
            Refused::SiteFull => "too many WebSocket tunnels open to this site",
            Refused::NodeFull => "too many WebSocket tunnels open on this node",
            Refused::Draining => "the node is shutting down",
        }
    }
}

/// One site's tunnels (shared by every host name of the site).
#[derive(Debug)]
pub struct SiteTunnels {
    enabled: bool,
    max: usize,
    open: AtomicUsize,
}

impl SiteTunnels {
    /// A site that accepts tunnels when `enabled`, at most `max` at once.
    pub fn new(enabled: bool, max: usize) -> Arc<Self> {
        Arc::new(SiteTunnels {
            enabled,
            max,
            open: AtomicUsize::new(0),
        })
    }

    /// Tunnels open to this site now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// The node's tunnels: the total cap, the idle timeout, counters, and the
/// drain signal.
#[derive(Debug)]
pub struct Tunnels {
    /// Seconds without a byte in either direction before a tunnel closes.
    pub idle_timeout: Duration,
    max: usize,
    open: AtomicUsize,
    /// Tunnels established (the origin switched protocols).
    pub opened: AtomicU64,
    /// Handshakes refused by a tunnel limit (answered 503).
    pub refused: AtomicU64,
    /// Tunnels closed by the idle timeout.
    pub closed_idle: AtomicU64,
    closing: watch::Sender<bool>,
}

/// One tunnel's place under the site and node caps; released on drop.
#[derive(Debug)]
pub struct TunnelPermit {
    node: Arc<Tunnels>,
    site: Arc<SiteTunnels>,
}

// === impl Tunnels ===

impl Tunnels {
    /// The node's tunnel limits from `[websocket]`.
    pub fn new(cfg: &WebSocketConfig) -> Arc<Self> {
        Arc::new(Tunnels {
            idle_timeout: Duration::from_secs(cfg.idle_timeout_secs),
            max: cfg.max_tunnels,
            open: AtomicUsize::new(0),
            opened: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            closed_idle: AtomicU64::new(0),
            closing: watch::channel(false).0,
        })
    }

    /// Admit one more tunnel to `site`, or say why not (limit refusals are
    /// counted).
    pub fn admit(self: &Arc<Self>, site: &Arc<SiteTunnels>) -> Result<TunnelPermit, Refused> {
        if !site.enabled {
            return Err(Refused::Disabled);
        }
        if *self.closing.borrow() {
            return Err(Refused::Draining);
        }
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::NodeFull);
        }
        if site.open.fetch_add(1, Ordering::AcqRel) >= site.max {
            site.open.fetch_sub(1, Ordering::AcqRel);
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::SiteFull);
        }
        Ok(TunnelPermit {
            node: self.clone(),
            site: site.clone(),
        })
    }

    /// Tunnels open now (handshakes in progress included).
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Close every tunnel and admit no more (the node is draining: a
    /// tunnel would otherwise hold its connection until the drain timeout).
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`close_all`](Self::close_all) has been called.
    pub fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|c| *c).await;
        }
    }
}

impl Drop for TunnelPermit {
    fn drop(&mut self) {
        self.site.open.fetch_sub(1, Ordering::AcqRel);
        self.node.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_tunnels: usize, per_site: usize) -> WebSocketConfig {
        WebSocketConfig {
            max_tunnels,
            max_tunnels_per_site: per_site,
            ..WebSocketConfig::default()
        }
    }

    #[test]
    fn caps_apply_per_site_and_per_node_and_free_on_drop() {
        let node = Tunnels::new(&config(3, 2));
        let (a, b) = (SiteTunnels::new(true, 2), SiteTunnels::new(true, 2));
        let a1 = node.admit(&a).expect("first");
        let _a2 = node.admit(&a).expect("second");
        assert_eq!(node.admit(&a).err(), Some(Refused::SiteFull));
        let _b1 = node.admit(&b).expect("other site");
        assert_eq!(node.admit(&b).err(), Some(Refused::NodeFull));
        assert_eq!(node.refused.load(Ordering::Relaxed), 2);
        drop(a1);
        assert_eq!((node.open(), a.open()), (2, 1));
        node.admit(&b).expect("a slot freed");
    }

    #[test]
    fn disabled_sites_and_draining_nodes_admit_nothing() {
        let node = Tunnels::new(&config(10, 10));
        let off = SiteTunnels::new(false, 10);
        assert_eq!(node.admit(&off).err(), Some(Refused::Disabled));
        let on = SiteTunnels::new(true, 10);
        node.close_all();
        assert_eq!(node.admit(&on).err(), Some(Refused::Draining));
        assert_eq!(
            node.refused.load(Ordering::Relaxed),
            0,
            "not a limit refusal"
        );
    }
}
