//! Counters kept by other parts of the node (the store, the origin client,
//! tunnels, connection caps), read at scrape time. This layer does not know
//! those parts: the process hands it the readers ([`NodeCollector::watch`],
//! [`NodeCollector::watch_connections`]); `node::gauges` writes them.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::sync::OnceLock;

/// Writes some of the node's gauges and counters when scraped.
pub type Reader = Box<dyn Fn(&mut DescriptorEncoder) -> std::fmt::Result + Send + Sync>;

/// Reads the node in force and the connection caps when scraped.
#[derive(Default)]
pub struct NodeCollector {
    node: OnceLock<Reader>,
    connections: OnceLock<Reader>,
}

impl std::fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCollector").finish_non_exhaustive()
    }
}

impl NodeCollector {
    /// Read the node in force with `reader` (set once, at start).
    pub fn watch(&self, reader: Reader) {
        let _ = self.node.set(reader);
    }

    /// Report the client connections with `reader` (set once, at start).
    pub fn watch_connections(&self, reader: Reader) {
        let _ = self.connections.set(reader);
    }
}

/// Write one counter.
pub fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    let m = e.encode_descriptor(name, help.trim_end_matches('.'), None, c.metric_type())?;
    c.encode(m)
}

/// Write one gauge.
pub fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    let m = e.encode_descriptor(name, help.trim_end_matches('.'), None, g.metric_type())?;
    g.encode(m)
}

impl Collector for NodeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(read) = self.connections.get() {
            read(&mut e)?;
        }
        if let Some(read) = self.node.get() {
            read(&mut e)?;
        }
        Ok(())
    }
}
