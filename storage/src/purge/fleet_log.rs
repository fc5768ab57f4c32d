//! The purge store's side of a fleet: an outbox of local purges still to be
//! published, the ids of purges received from the fleet's stream (so each is
//! applied once), and how far along the stream this node has read.
//!
//! All of it is written in the purge's own redb transaction, so a purge is
//! queued for publication, or marked applied, exactly when it is committed:
//! a crash can lose neither a queued purge nor the record that a received
//! one was applied. Payloads are opaque bytes: the store knows nothing about
//! what the node publishes.

use super::{META, PurgeError, PurgeStore};
use redb::{
    Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};

/// purge sequence -> payload to publish.
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("fleet_outbox");
/// fleet id -> stream sequence it was received at.
const APPLIED: TableDefinition<&str, u64> = TableDefinition::new("fleet_applied");
/// stream sequence -> fleet id (to prune `APPLIED` oldest first).
const APPLIED_BY_SEQ: TableDefinition<u64, &str> = TableDefinition::new("fleet_applied_by_seq");
/// META: the last stream sequence read.
const STREAM_SEQ: &str = "fleet_stream_seq";
/// META: which stream that sequence belongs to (its creation time, in ns).
const STREAM_ID: &str = "fleet_stream_id";
/// META: this database's incarnation in the fleet's purge ids.
const EPOCH: &str = "fleet_epoch";
/// How many received ids are remembered for deduplication.
const APPLIED_KEPT: u64 = 100_000;

/// Where a purge comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// Made on this node. With `outbox`, the payload is queued for
    /// publication in the purge's transaction.
    Local {
        /// What to publish to the fleet, if the node is in one.
        outbox: Option<&'a [u8]>,
    },
    /// Received from the fleet's stream.
    Stream {
        /// The purge's fleet-wide id (applied at most once).
        id: &'a str,
        /// Its sequence in the stream.
        seq: u64,
    },
}

impl Source<'_> {
    /// A local purge with nothing to publish.
    pub const LOCAL: Source<'static> = Source::Local { outbox: None };

    /// Must the purge be durable before its call returns? A local purge
    /// must (the API answers on it; it waits for a group sync). Purges from
    /// the stream are made durable together, by
    /// [`PurgeStore::record_stream_position`] at the end of each batch, before the
    /// batch is acknowledged to the stream: a crash before then loses them
    /// from the database and the stream delivers them again.
    pub fn durable(&self) -> bool {
        matches!(self, Source::Local { .. })
    }

    pub(super) fn log_prefix(&self) -> String {
        match self {
            Source::Local { .. } => String::new(),
            Source::Stream { id, seq } => format!("from fleet {id} (stream {seq}): "),
        }
    }
}

pub(super) fn create_tables(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(OUTBOX)?;
    tx.open_table(APPLIED)?;
    tx.open_table(APPLIED_BY_SEQ)?;
    Ok(())
}

/// Record `source` in the transaction of purge `seq`. `false`: it was
/// received and applied before; the caller aborts.
pub(super) fn record(
    tx: &WriteTransaction,
    source: &Source,
    seq: u64,
) -> Result<bool, redb::Error> {
    match source {
        Source::Local { outbox: None } => Ok(true),
        Source::Local {
            outbox: Some(payload),
        } => {
            tx.open_table(OUTBOX)?.insert(seq, *payload)?;
            Ok(true)
        }
        Source::Stream {
            id,
            seq: stream_seq,
        } => {
            let mut applied = tx.open_table(APPLIED)?;
            if applied.get(*id)?.is_some() {
                return Ok(false);
            }
            applied.insert(*id, *stream_seq)?;
            let mut by_seq = tx.open_table(APPLIED_BY_SEQ)?;
            by_seq.insert(*stream_seq, *id)?;
            // Forget the oldest ids beyond the window.
            while by_seq.len()? > APPLIED_KEPT {
                let Some((s, old)) = by_seq.pop_first()? else {
                    break;
                };
                applied.remove(old.value())?;
                drop(s);
            }
            advance(tx, *stream_seq)?;
            Ok(true)
        }
    }
}

fn advance(tx: &WriteTransaction, stream_seq: u64) -> Result<(), redb::Error> {
    let mut meta = tx.open_table(META)?;
    let last = meta.get(STREAM_SEQ)?.map(|v| v.value()).unwrap_or(0);
    if stream_seq > last {
        meta.insert(STREAM_SEQ, stream_seq)?;
    }
    Ok(())
}

/// Where this node is in the fleet's stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamPosition {
    /// The stream's identity (its creation time, in ns); 0 before the first.
    pub stream_id: u64,
    /// The last stream sequence read (applied or skipped); 0 before the first.
    pub seq: u64,
}

impl PurgeStore {
    /// The oldest `limit` purges waiting in the outbox, as (purge id, payload).
    pub fn outbox(&self, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, PurgeError> {
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let rx = self.db.begin_read().map_err(|e| err(&e))?;
        let table = rx.open_table(OUTBOX).map_err(|e| err(&e))?;
        let mut out = Vec::new();
        // Only durable purges: one lost in a crash was never acknowledged
        // to its caller, and is not published either.
        let durable = self.current_seq();
        for row in table.iter().map_err(|e| err(&e))?.take(limit) {
            let (k, v) = row.map_err(|e| err(&e))?;
            if k.value() > durable {
                break;
            }
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// How many purges wait in the outbox.
    pub fn outbox_depth(&self) -> Result<u64, PurgeError> {
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let rx = self.db.begin_read().map_err(|e| err(&e))?;
        let table = rx.open_table(OUTBOX).map_err(|e| err(&e))?;
        table.len().map_err(|e| err(&e))
    }

    /// Take published purges out of the outbox. Not made durable on its
    /// own: if the removal is lost in a crash, the purges are published
    /// again, and the fleet drops them as duplicates by their id.
    pub fn outbox_remove(&self, ids: &[u64]) -> Result<(), PurgeError> {
        self.small_write(|tx| {
            let mut table = tx.open_table(OUTBOX)?;
            for id in ids {
                table.remove(id)?;
            }
            Ok(())
        })
    }

    /// Where this node is in the fleet's stream.
    pub fn stream_position(&self) -> Result<StreamPosition, PurgeError> {
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let rx = self.db.begin_read().map_err(|e| err(&e))?;
        let meta = rx.open_table(META).map_err(|e| err(&e))?;
        let get = |k: &str| -> Result<u64, PurgeError> {
            Ok(meta
                .get(k)
                .map_err(|e| err(&e))?
                .map(|v| v.value())
                .unwrap_or(0))
        };
        Ok(StreamPosition {
            stream_id: get(STREAM_ID)?,
            seq: get(STREAM_SEQ)?,
        })
    }

    /// Start reading stream `stream_id` (a new or re-created stream): the
    /// position restarts at 0. Durable.
    pub fn join_stream(&self, stream_id: u64) -> Result<(), PurgeError> {
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let _writer = self.writer.lock();
        let tx = self.db.begin_write().map_err(|e| err(&e))?;
        {
            let mut meta = tx.open_table(META).map_err(|e| err(&e))?;
            meta.insert(STREAM_ID, stream_id).map_err(|e| err(&e))?;
            meta.insert(STREAM_SEQ, 0).map_err(|e| err(&e))?;
        }
        tx.commit().map_err(|e| err(&e))
    }

    /// This database's incarnation: the stored one, or `fresh` (non-zero),
    /// stored durably, on first use. Purge ids restart with a new database;
    /// the epoch keeps fleet ids unique across that.
    pub fn fleet_epoch(&self, fresh: u64) -> Result<u64, PurgeError> {
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let _writer = self.writer.lock();
        let tx = self.db.begin_write().map_err(|e| err(&e))?;
        let epoch = {
            let mut meta = tx.open_table(META).map_err(|e| err(&e))?;
            let stored = meta.get(EPOCH).map_err(|e| err(&e))?.map(|v| v.value());
            match stored {
                Some(e) if e != 0 => e,
                _ => {
                    let e = fresh.max(1);
                    meta.insert(EPOCH, e).map_err(|e| err(&e))?;
                    e
                }
            }
        };
        tx.commit().map_err(|e| err(&e))?;
        Ok(epoch)
    }

    /// Record that stream messages up to `stream_seq` were read (applied,
    /// or skipped: this node's own purges, duplicates, unreadable ones).
    /// With `durable`, it is on disk before this returns, together with
    /// every purge from the stream committed before it, so the messages can
    /// be acknowledged; otherwise the next durable commit persists it.
    pub fn record_stream_position(&self, stream_seq: u64, durable: bool) -> Result<(), PurgeError> {
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let _writer = self.writer.lock();
        let mut tx = self.db.begin_write().map_err(|e| err(&e))?;
        if !durable {
            tx.set_durability(Durability::None).map_err(|e| err(&e))?;
        }
        advance(&tx, stream_seq).map_err(|e| err(&e))?;
        tx.commit().map_err(|e| err(&e))?;
        if durable {
            self.synced();
        }
        Ok(())
    }

    /// Was the purge with this fleet id applied here (within the window of
    /// remembered ids)?
    pub fn applied(&self, id: &str) -> Result<bool, PurgeError> {
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let rx = self.db.begin_read().map_err(|e| err(&e))?;
        let table = rx.open_table(APPLIED).map_err(|e| err(&e))?;
        Ok(table.get(id).map_err(|e| err(&e))?.is_some())
    }

    /// A write made durable by the next purge's commit (or the next open's).
    fn small_write(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), PurgeError> {
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let _writer = self.writer.lock();
        let mut tx = self.db.begin_write().map_err(|e| err(&e))?;
        tx.set_durability(Durability::None).map_err(|e| err(&e))?;
        f(&tx).map_err(|e| err(&e))?;
        tx.commit().map_err(|e| err(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BanMatch, Purged};

    fn open(dir: &tempfile::TempDir) -> PurgeStore {
        PurgeStore::open(&dir.path().join("purge.redb")).expect("open")
    }

    #[test]
    fn a_local_purge_is_queued_in_its_own_commit_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        let first = store
            .ban_from(
                &Source::Local {
                    outbox: Some(b"one"),
                },
                "h",
                BanMatch::Exact("/a".into()),
                false,
            )
            .expect("ban")
            .expect("applied");
        store
            .ban("h", BanMatch::Exact("/b".into()), false)
            .expect("ban");
        let second = store
            .purge_keys_from(
                &Source::Local {
                    outbox: Some(b"two"),
                },
                &["h".into()],
                &["k".into()],
                true,
            )
            .expect("keys")
            .expect("applied");
        assert_eq!(store.outbox_depth().expect("depth"), 2);
        drop(store);
        let store = open(&dir);
        assert_eq!(
            store.outbox(10).expect("outbox"),
            vec![(first, b"one".to_vec()), (second, b"two".to_vec())]
        );
        store.outbox_remove(&[first]).expect("remove");
        assert_eq!(
            store.outbox(10).expect("outbox"),
            vec![(second, b"two".to_vec())]
        );
    }

    #[test]
    fn a_purge_from_the_stream_applies_once_and_moves_the_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        store.join_stream(77).expect("join");
        let before = store.current_seq();
        let src = Source::Stream {
            id: "a-1-5",
            seq: 3,
        };
        let id = store
            .ban_from(&src, "h", BanMatch::Prefix("/p".into()), false)
            .expect("ban");
        assert!(id.is_some());
        assert_eq!(store.check("h", "/p/x", &[], before), Purged::Hard);
        // The same purge again (redelivered, or published twice): ignored.
        let again = Source::Stream {
            id: "a-1-5",
            seq: 9,
        };
        // Not durable yet: objects fetched now record the sequence before it
        // (and count as purged by it) until the batch is made durable.
        assert_eq!(store.current_seq(), before);
        store.record_stream_position(3, true).expect("durable");
        let fetched = store.current_seq();
        assert_eq!(fetched, before + 1);
        assert_eq!(
            store
                .ban_from(&again, "h", BanMatch::Prefix("/p".into()), false)
                .expect("ban"),
            None
        );
        assert_eq!(store.check("h", "/p/x", &[], fetched), Purged::No);
        assert!(store.applied("a-1-5").expect("applied"));
        assert_eq!(
            store.stream_position().expect("pos"),
            StreamPosition {
                stream_id: 77,
                seq: 3
            }
        );
        store.record_stream_position(12, true).expect("skip");
        store.record_stream_position(10, true).expect("skip");
        assert_eq!(store.stream_position().expect("pos").seq, 12);
        drop(store);
        let store = open(&dir);
        assert_eq!(store.stream_position().expect("pos").seq, 12);
        assert!(store.applied("a-1-5").expect("applied"));
        assert_eq!(store.fleet_epoch(5).expect("epoch"), 5);
        assert_eq!(store.fleet_epoch(9).expect("epoch"), 5);
        store.join_stream(78).expect("join");
        assert_eq!(
            store.stream_position().expect("pos"),
            StreamPosition {
                stream_id: 78,
                seq: 0
            }
        );
    }
}
