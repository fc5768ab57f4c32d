//! Durable invalidation state: surrogate-key generations and bans, kept in
//! redb and mirrored in memory. A purge costs O(1) in the number of objects it
//! covers: it records a sequence number, and lookups compare it lazily with
//! the sequence number each object was fetched under.
//!
//! Every purge is one redb write transaction (the sequence counter, the key
//! or ban, and a purge-log record), committed with immediate durability
//! before [`PurgeStore`] returns, so an acknowledged purge survives `kill -9`.
//!
//! The store knows nothing about HTTP: a *scope* is an opaque tenant string
//! (the node uses the host name) and a *target* is an opaque string (the node
//! uses the path and query).

pub use fleet_log::{Source, StreamPosition};
use index::{Gen, Index, Pruned};
use parking_lot::{Mutex, RwLock};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `scope \0 key` -> (sequence of the last purge, sequence of the last hard purge).
const KEYS: TableDefinition<&str, (u64, u64)> = TableDefinition::new("keys");
/// sequence -> (scope, target, kind, soft).
const BANS: TableDefinition<u64, (&str, &str, u8, u8)> = TableDefinition::new("bans");
/// sequence -> human-readable record of what was purged.
const LOG: TableDefinition<u64, &str> = TableDefinition::new("purge_log");
const SEQ: &str = "seq";
/// The scope that covers every scope.
pub const ALL_SCOPES: &str = "*";

/// What a ban matches, within its scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BanMatch {
    /// Exactly this target (all its variants).
    Exact(String),
    /// Every target starting with this prefix.
    Prefix(String),
    /// Every target in the scope.
    All,
}

impl BanMatch {
    fn kind(&self) -> u8 {
        match self {
            BanMatch::Exact(_) => 0,
            BanMatch::Prefix(_) => 1,
            BanMatch::All => 2,
        }
    }
    fn target(&self) -> &str {
        match self {
            BanMatch::Exact(t) | BanMatch::Prefix(t) => t,
            BanMatch::All => "",
        }
    }
    fn from_parts(kind: u8, target: &str) -> BanMatch {
        match kind {
            0 => BanMatch::Exact(target.to_string()),
            1 => BanMatch::Prefix(target.to_string()),
            _ => BanMatch::All,
        }
    }
    #[cfg(test)]
    fn matches(&self, target: &str) -> bool {
        match self {
            BanMatch::Exact(t) => t == target,
            BanMatch::Prefix(p) => target.starts_with(p.as_str()),
            BanMatch::All => true,
        }
    }
}

/// Whether a stored object has been purged since it was fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purged {
    /// Not purged.
    No,
    /// Soft-purged: treat as stale (revalidate; stale-while-revalidate and
    /// stale-if-error still apply).
    Soft,
    /// Hard-purged: treat as absent.
    Hard,
}

/// Errors of the purge store.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// The database could not be opened or written.
    #[error("purge state {path}: {message}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// The durable purge state.
///
/// Writers (purges) are serialised by a writer lock. Each commits its redb
/// transaction without waiting for the disk, updates the in-memory index,
/// and then (a local purge) waits for a **group sync**: one durable commit
/// persists every purge committed before it, so concurrent purges share
/// one fsync. A local purge returns only once it is durable.
///
/// [`current_seq`] is the sequence of the last *durable* purge: an object
/// records it before it is fetched. A purge in force but not yet durable
/// has a higher sequence, so it covers objects fetched meanwhile (a needless
/// miss at worst); and if a crash loses it, the sequences reissued after
/// restart are still above every recorded one, so later purges cover
/// every object stored before the crash.
///
/// Lookups ([`check`]) and [`current_seq`] never wait for an fsync.
///
/// [`check`]: PurgeStore::check
/// [`current_seq`]: PurgeStore::current_seq
pub struct PurgeStore {
    db: Database,
    path: PathBuf,
    /// Held by a purge from before its redb transaction until its index
    /// update is done, so purges apply in sequence order.
    writer: Mutex<()>,
    index: RwLock<Index>,
    /// The last purge sequence known to be on disk.
    durable_seq: AtomicU64,
    /// One group sync at a time.
    sync: Mutex<()>,
}

fn scoped(scope: &str, key: &str) -> String {
    format!("{scope}\0{key}")
}

/// What a committed purge changes in the index.
enum Change {
    Keys(Vec<(String, String, Gen)>),
    Ban(String, BanMatch, bool),
}

impl PurgeStore {
    /// Open (or create) the purge database at `path` and load it into memory.
    ///
    /// Databases written before bans were pruned open unchanged: the bans
    /// are replayed in sequence order into the compact index, and the rows
    /// that newer bans cover are deleted.
    pub fn open(path: &Path) -> Result<PurgeStore, PurgeError> {
        let err = |e: &dyn std::fmt::Display| PurgeError::Db {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
        }
        let db = Database::create(path).map_err(|e| err(&e))?;
        // Create the tables so that a read transaction on a new file finds them.
        let tx = db.begin_write().map_err(|e| err(&e))?;
        for t in [
            tx.open_table(META).map(drop),
            tx.open_table(KEYS).map(drop),
            tx.open_table(LOG).map(drop),
        ] {
            t.map_err(|e| err(&e))?;
        }
        tx.open_table(BANS).map(drop).map_err(|e| err(&e))?;
        fleet_log::create_tables(&tx).map_err(|e| err(&e))?;
        tx.commit().map_err(|e| err(&e))?;

        let mut index = Index::default();
        let mut pruned = Pruned::default();
        let rx = db.begin_read().map_err(|e| err(&e))?;
        let meta = rx.open_table(META).map_err(|e| err(&e))?;
        index.seq = meta
            .get(SEQ)
            .map_err(|e| err(&e))?
            .map(|v| v.value())
            .unwrap_or(0);
        // Bans first, oldest first, so each prunes what it covers; then the
        // keys, pruned under the host-wide bans that end up in force.
        let bans = rx.open_table(BANS).map_err(|e| err(&e))?;
        for row in bans.iter().map_err(|e| err(&e))? {
            let (seq, v) = row.map_err(|e| err(&e))?;
            let (scope, target, kind, soft) = v.value();
            let matcher = BanMatch::from_parts(kind, target);
            let p = index.add_ban(scope, seq.value(), &matcher, soft == 1);
            pruned.bans.extend(p.bans);
        }
        let keys = rx.open_table(KEYS).map_err(|e| err(&e))?;
        for row in keys.iter().map_err(|e| err(&e))? {
            let (k, v) = row.map_err(|e| err(&e))?;
            let (any, hard) = v.value();
            let name = k.value();
            let (scope, key) = name.split_once('\0').unwrap_or(("", name));
            if let Some(left) = index.set_key(scope, key, Gen::from_pair(any, hard)) {
                pruned.keys.push((scope.to_string(), key.to_string(), left));
            }
        }
        drop(rx);
        let store = PurgeStore {
            db,
            path: path.to_path_buf(),
            writer: Mutex::new(()),
            durable_seq: AtomicU64::new(index.seq),
            index: RwLock::new(index),
            sync: Mutex::new(()),
        };
        store.delete_pruned(&pruned)?;
        Ok(store)
    }

    /// The sequence number of the latest purge. Record it *before* fetching
    /// an object: a purge that lands while the fetch is in flight then
    /// covers the object.
    pub fn current_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// Make every purge committed so far durable, unless one sync already
    /// covered `seq`: concurrent callers share one fsync.
    fn sync_to(&self, seq: u64) -> Result<(), PurgeError> {
        if self.current_seq() >= seq {
            return Ok(());
        }
        let _sync = self.sync.lock();
        if self.current_seq() >= seq {
            return Ok(());
        }
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let upto = {
            let _writer = self.writer.lock();
            let upto = self.index.read().seq;
            let tx = self.db.begin_write().map_err(|e| err(&e))?;
            {
                let mut meta = tx.open_table(META).map_err(|e| err(&e))?;
                meta.insert(SEQ, upto).map_err(|e| err(&e))?;
            }
            tx.commit().map_err(|e| err(&e))?;
            upto
        };
        self.durable_seq.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    /// A durable commit just persisted everything before it: note so.
    /// Call with the writer lock held.
    fn synced(&self) {
        let upto = self.index.read().seq;
        self.durable_seq.fetch_max(upto, Ordering::AcqRel);
    }

    /// Purge surrogate `keys` in each of `scopes`. Returns the purge id.
    ///
    /// Blocks on disk I/O (one fsync): call it from a blocking thread.
    pub fn purge_keys(
        &self,
        scopes: &[String],
        keys: &[String],
        soft: bool,
    ) -> Result<u64, PurgeError> {
        self.purge_keys_from(&Source::LOCAL, scopes, keys, soft)
            .map(|id| id.unwrap_or_default())
    }

    /// [`PurgeStore::purge_keys`] for a purge from `source`. `None`: the
    /// purge came from the fleet's stream and was applied before.
    pub fn purge_keys_from(
        &self,
        source: &Source,
        scopes: &[String],
        keys: &[String],
        soft: bool,
    ) -> Result<Option<u64>, PurgeError> {
        let record = format!(
            "{}keys {keys:?} in {scopes:?}{}",
            source.log_prefix(),
            if soft { " (soft)" } else { "" }
        );
        self.commit(&record, source, |tx, seq, index| {
            let mut table = tx.open_table(KEYS)?;
            let mut updated = Vec::with_capacity(scopes.len() * keys.len());
            for scope in scopes {
                for key in keys {
                    let mut generation = index.key(scope, key);
                    generation.add(seq, soft, &mut Vec::new());
                    table.insert(scoped(scope, key).as_str(), generation.pair())?;
                    updated.push((scope.clone(), key.clone(), generation));
                }
            }
            Ok(Change::Keys(updated))
        })
    }

    /// Ban `matcher` in `scope`: every object in it fetched before now counts as purged.
    ///
    /// Blocks on disk I/O (one fsync): call it from a blocking thread.
    pub fn ban(&self, scope: &str, matcher: BanMatch, soft: bool) -> Result<u64, PurgeError> {
        self.ban_from(&Source::LOCAL, scope, matcher, soft)
            .map(|id| id.unwrap_or_default())
    }

    /// [`PurgeStore::ban`] for a purge from `source`. `None`: the purge came
    /// from the fleet's stream and was applied before.
    pub fn ban_from(
        &self,
        source: &Source,
        scope: &str,
        matcher: BanMatch,
        soft: bool,
    ) -> Result<Option<u64>, PurgeError> {
        let record = format!(
            "{}ban {matcher:?} in {scope}{}",
            source.log_prefix(),
            if soft { " (soft)" } else { "" }
        );
        self.commit(&record, source, |tx, seq, _| {
            let mut table = tx.open_table(BANS)?;
            table.insert(
                seq,
                (scope, matcher.target(), matcher.kind(), u8::from(soft)),
            )?;
            Ok(Change::Ban(scope.to_string(), matcher.clone(), soft))
        })
    }

    /// Has an object in `scope` at `target`, tagged with `keys` and fetched
    /// under sequence `fetched_at`, been purged since? Hard if a covering
    /// hard purge is newer than `fetched_at`, else soft if any covering
    /// purge is. Purges recorded under [`ALL_SCOPES`] cover every scope.
    ///
    /// The cost is one hash probe per scope and per key plus one trie walk
    /// along `target`, independent of the number of purges recorded.
    pub fn check(&self, scope: &str, target: &str, keys: &[String], fetched_at: u64) -> Purged {
        self.index
            .read()
            .check([scope, ALL_SCOPES], target, keys, fetched_at)
    }

    /// How many URL, prefix and host-wide ban entries are in force (after
    /// pruning the covered ones), over every scope.
    pub fn ban_entries(&self) -> usize {
        self.index.read().ban_entries()
    }

    /// The most recent purge-log records, newest first.
    pub fn log(&self, limit: usize) -> Result<Vec<(u64, String)>, PurgeError> {
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let rx = self.db.begin_read().map_err(|e| err(&e))?;
        let table = rx.open_table(LOG).map_err(|e| err(&e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| err(&e))?.rev().take(limit) {
            let (k, v) = row.map_err(|e| err(&e))?;
            out.push((k.value(), v.value().to_string()));
        }
        Ok(out)
    }

    fn error(&self, e: &dyn std::fmt::Display) -> PurgeError {
        PurgeError::Db {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// One purge: a durable redb commit, then the index update, then the
    /// deletion of the rows the purge made redundant.
    fn commit(
        &self,
        record: &str,
        source: &Source,
        apply: impl FnOnce(&redb::WriteTransaction, u64, &Index) -> Result<Change, redb::Error>,
    ) -> Result<Option<u64>, PurgeError> {
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let _writer = self.writer.lock();
        // Only writers change the index, and this one holds the writer lock:
        // reading it here sees exactly what the update below will change.
        let (seq, change) = {
            // Never waits for the disk here: a local purge is made durable
            // by the group sync below, purges from the stream once per
            // batch (`record_stream_position`).
            let mut tx = self.db.begin_write().map_err(|e| err(&e))?;
            tx.set_durability(Durability::None).map_err(|e| err(&e))?;
            let index = self.index.read();
            let seq = index.seq + 1;
            // The fleet bookkeeping rides the purge's own transaction: a
            // purge is queued for the fleet, or marked applied, exactly when
            // it is committed.
            if !fleet_log::record(&tx, source, seq).map_err(|e| err(&e))? {
                tx.abort().map_err(|e| err(&e))?;
                return Ok(None);
            }
            let change = apply(&tx, seq, &index).map_err(|e| err(&e))?;
            drop(index);
            {
                let mut meta = tx.open_table(META).map_err(|e| err(&e))?;
                meta.insert(SEQ, seq).map_err(|e| err(&e))?;
                let mut log = tx.open_table(LOG).map_err(|e| err(&e))?;
                log.insert(seq, record).map_err(|e| err(&e))?;
            }
            tx.commit().map_err(|e| err(&e))?;
            (seq, change)
        };
        // In force now (covering every fetch that read `current_seq`
        // before it); durable after the sync.
        let pruned = {
            let mut index = self.index.write();
            index.seq = seq;
            match change {
                Change::Keys(updated) => {
                    for (scope, key, generation) in updated {
                        index.set_key(&scope, &key, generation);
                    }
                    Pruned::default()
                }
                Change::Ban(scope, matcher, soft) => index.add_ban(&scope, seq, &matcher, soft),
            }
        };
        if let Err(e) = self.delete_pruned(&pruned) {
            // The purge itself is durable; the redundant rows are pruned
            // again on the next open.
            tracing::warn!(error = %e, "could not delete purge rows covered by a newer purge");
        }
        drop(_writer);
        if source.durable() {
            self.sync_to(seq)?;
        }
        Ok(Some(seq))
    }

    /// Delete the redb rows the index pruned. Not made durable on its own:
    /// the next purge's commit persists it, and if it is lost the next open
    /// prunes the same rows again.
    fn delete_pruned(&self, pruned: &Pruned) -> Result<(), PurgeError> {
        if pruned.bans.is_empty() && pruned.keys.is_empty() {
            return Ok(());
        }
        let err = |e: &dyn std::fmt::Display| self.error(e);
        let mut tx = self.db.begin_write().map_err(|e| err(&e))?;
        tx.set_durability(Durability::None).map_err(|e| err(&e))?;
        {
            let mut bans = tx.open_table(BANS).map_err(|e| err(&e))?;
            for seq in &pruned.bans {
                bans.remove(seq).map_err(|e| err(&e))?;
            }
            let mut keys = tx.open_table(KEYS).map_err(|e| err(&e))?;
            for (scope, key, left) in &pruned.keys {
                let name = scoped(scope, key);
                match left {
                    Some(g) => keys.insert(name.as_str(), g.pair()).map(drop),
                    None => keys.remove(name.as_str()).map(drop),
                }
                .map_err(|e| err(&e))?;
            }
        }
        tx.commit().map_err(|e| err(&e))
    }
}

mod fleet_log;
mod index;
#[cfg(test)]
mod tests;
