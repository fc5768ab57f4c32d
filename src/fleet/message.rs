//! What travels on the fleet's stream: one purge, as it was committed on the
//! node that accepted it (hosts and paths already in their canonical
//! spelling), in versioned JSON.

use crate::purge::PurgeOp;
use serde::{Deserialize, Serialize};

/// Largest purge message accepted from the stream.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// The message format written now.
const VERSION: u32 = 1;

/// A purge as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version.
    pub v: u32,
    /// The node that accepted the purge.
    pub node: String,
    /// That node's purge-database incarnation (ids restart with a new one).
    pub epoch: u64,
    /// What to purge.
    pub op: PurgeOp,
    /// Soft purge (mark stale) rather than hard.
    pub soft: bool,
    /// Does the accepting node wait for acknowledgements (`?wait=fleet`)?
    pub ack: bool,
    /// When the purge was accepted, Unix milliseconds.
    pub at_ms: u64,
}

/// Why a message from the stream was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    TooLarge(usize),
    /// Not a purge message this node can read.
    Malformed(String),
    /// Written by a newer node.
    UnknownVersion(u32),
}

impl Rejected {
    /// For logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Rejected::TooLarge(_) => "too-large",
            Rejected::Malformed(_) => "malformed",
            Rejected::UnknownVersion(_) => "unknown-version",
        }
    }
}

impl Envelope {
    /// A purge accepted now on `node`.
    pub fn new(node: &str, epoch: u64, op: PurgeOp, soft: bool, ack: bool, at_ms: u64) -> Self {
        Envelope {
            v: VERSION,
            node: node.to_string(),
            epoch,
            op,
            soft,
            ack,
            at_ms,
        }
    }

    /// Its bytes on the stream.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Read a message from the stream.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, Rejected> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(Rejected::TooLarge(bytes.len()));
        }
        let env: Envelope =
            serde_json::from_slice(bytes).map_err(|e| Rejected::Malformed(e.to_string()))?;
        if env.v != VERSION {
            return Err(Rejected::UnknownVersion(env.v));
        }
        Ok(env)
    }
}

/// The purge's fleet-wide id: the accepting node, its database incarnation
/// and its local purge id. Used as JetStream's `Nats-Msg-Id` (publish
/// deduplication) and as the key of the applied-ids table.
pub fn fleet_id(node: &str, epoch: u64, purge_id: u64) -> String {
    format!("{node}-{epoch:016x}-{purge_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_purge_kind_round_trips() {
        let ops = [
            PurgeOp::Keys {
                hosts: vec!["*".into(), "a.example".into()],
                keys: vec!["k1".into(), "k\"2".into()],
            },
            PurgeOp::Url {
                host: "a.example".into(),
                path: "/x?y=1".into(),
            },
            PurgeOp::Prefix {
                host: "a.example".into(),
                prefix: "/img/".into(),
            },
            PurgeOp::All {
                host: "a.example".into(),
            },
        ];
        for op in ops {
            let env = Envelope::new("edge-1", 7, op, true, false, 1_700_000_000_000);
            assert_eq!(Envelope::decode(&env.encode()), Ok(env));
        }
    }

    #[test]
    fn hostile_messages_are_rejected_with_a_reason() {
        let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
        let newer = br#"{"v":2,"node":"n","epoch":1,"op":{"kind":"all","host":"h"},"soft":false,"ack":false,"at_ms":0}"#;
        let cases: [(&[u8], &str); 5] = [
            (b"", "malformed"),
            (b"{}", "malformed"),
            (br#"{"v":1,"node":"n","epoch":1,"op":{"kind":"drop_db"},"soft":false,"ack":false,"at_ms":0}"#, "malformed"),
            (newer, "unknown-version"),
            (&big, "too-large"),
        ];
        for (bytes, reason) in cases {
            let got = Envelope::decode(bytes).expect_err(reason);
            assert_eq!(got.as_str(), reason);
        }
    }

    #[test]
    fn fleet_ids_differ_by_node_epoch_and_purge() {
        let a = fleet_id("a", 1, 5);
        assert_eq!(a, "a-0000000000000001-5");
        assert_ne!(a, fleet_id("a", 2, 5));
        assert_ne!(a, fleet_id("b", 1, 5));
        assert_ne!(a, fleet_id("a", 1, 6));
    }
}
