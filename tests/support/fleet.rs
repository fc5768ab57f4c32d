//! Three in-process nodes forming a tier (tests/tiered.rs): each learns the
//! others' addresses by a config reload once all three are listening, so no
//! port is guessed. Every request names the same site, as a fleet's clients do.

use super::{Got, Origin, Reserved, TestNode, send, test_config};
use edgecache::config::Config;
use edgecache::http_cache::key;
use edgecache::proxy::tier::ring;
use parking_lot::Mutex;
use std::sync::Arc;

/// The site every request names.
pub const HOST: &str = "cdn.test";

/// Three nodes named edge-a, edge-b, edge-c, each listing all three as peers.
pub struct Fleet {
    pub nodes: Vec<Option<TestNode>>,
    pub peers: Vec<String>,
    cells: Vec<Arc<Mutex<Config>>>,
    _dirs: Vec<tempfile::TempDir>,
    /// Each node's port, held for the fleet's life: a stopped node's
    /// address refuses connections and is never handed to another test's
    /// listener (the node's listener binds beside the held socket).
    _ports: Vec<Reserved>,
}

impl Fleet {
    pub async fn start(origin: &Origin) -> Fleet {
        Fleet::start_with(origin, |_, _| {}).await
    }

    /// `tweak(i, cfg)` adjusts node `i`'s config before it starts.
    pub async fn start_with(origin: &Origin, tweak: impl Fn(usize, &mut Config)) -> Fleet {
        let mut nodes = Vec::new();
        let mut cells = Vec::new();
        let mut dirs = Vec::new();
        let mut ports = Vec::new();
        for i in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut cfg = test_config(&origin.url(), dir.path());
            let port = Reserved::new();
            cfg.server.listen = port.addr;
            ports.push(port);
            cfg.server.cache_name = format!("edge-{}", ["a", "b", "c"][i]);
            tweak(i, &mut cfg);
            let (node, cell) = TestNode::start_reloadable(cfg).await;
            nodes.push(Some(node));
            cells.push(cell);
            dirs.push(dir);
        }
        let peers: Vec<String> = nodes.iter().flatten().map(|n| n.addr.to_string()).collect();
        let fleet = Fleet {
            nodes,
            peers,
            cells,
            _dirs: dirs,
            _ports: ports,
        };
        fleet
            .reconfigure(|i, c| {
                c.tier.peers = fleet.peers.clone();
                c.tier.self_addr = Some(fleet.peers[i].clone());
            })
            .await;
        fleet
    }

    /// Change every running node's config with `f(i, cfg)` and reload it
    /// (the reload validates it, as the binary does).
    pub async fn reconfigure(&self, f: impl Fn(usize, &mut Config)) {
        for (i, (node, cell)) in self.nodes.iter().zip(&self.cells).enumerate() {
            let Some(node) = node else { continue };
            f(i, &mut cell.lock());
            let report = node.live.reload().await.expect("reload with [tier]");
            assert!(report.restart_needed.is_empty(), "{report:?}");
            assert!(
                node.live.pipeline().tier.is_some(),
                "tiering on after reload"
            );
        }
    }

    pub fn node(&self, i: usize) -> &TestNode {
        self.nodes[i].as_ref().expect("node running")
    }

    /// GET `path` from node `i` for the fleet's site, with extra fields.
    pub async fn get(&self, i: usize, path: &str, extra: &[(&str, &str)]) -> Got {
        let mut headers = vec![("host", HOST)];
        headers.extend_from_slice(extra);
        send("GET", &self.node(i).url(path), &headers).await
    }

    /// The nodes in the order the ring tries them for `path`, home first.
    pub fn order(&self, path: &str) -> Vec<usize> {
        ring::order(&self.peers, &key::primary("http", HOST, path))
    }

    pub async fn stop(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.stop().await;
        }
    }

    /// Start node `i` again (after `stop(i)`) on its address, its data
    /// directory and its last config.
    pub async fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {i} is running");
        let cfg = self.cells[i].lock().clone();
        let (node, cell) = TestNode::start_reloadable(cfg).await;
        assert_eq!(node.addr.to_string(), self.peers[i], "same address");
        self.nodes[i] = Some(node);
        self.cells[i] = cell;
    }
}

/// The cache names in a Cache-Status value, in order (origin side first).
pub fn hops(got: &Got) -> Vec<String> {
    got.cache_status()
        .split(',')
        .map(|m| m.split(';').next().unwrap_or("").trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}
