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

use parking_lot::RwLock;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

#[derive(Clone, Copy, Debug, Default)]
struct KeyGen {
    any: u64,
    hard: u64,
}

#[derive(Clone, Debug)]
struct Ban {
    seq: u64,
    matcher: BanMatch,
    soft: bool,
}

#[derive(Default)]
struct Index {
    seq: u64,
    /// scope -> key -> generation. Nested so lookups borrow, never allocate.
    keys: HashMap<String, HashMap<String, KeyGen>>,
    /// scope -> target -> (last purge, last hard purge).
    exact: HashMap<String, HashMap<String, (u64, u64)>>,
    wide: HashMap<String, Vec<Ban>>,
}

/// The durable purge state.
pub struct PurgeStore {
    db: Database,
    path: PathBuf,
    index: RwLock<Index>,
}

fn scoped(scope: &str, key: &str) -> String {
    format!("{scope}\0{key}")
}

impl PurgeStore {
    /// Open (or create) the purge database at `path` and load it into memory.
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
        tx.commit().map_err(|e| err(&e))?;

        let mut index = Index::default();
        let rx = db.begin_read().map_err(|e| err(&e))?;
        let meta = rx.open_table(META).map_err(|e| err(&e))?;
        index.seq = meta
            .get(SEQ)
            .map_err(|e| err(&e))?
            .map(|v| v.value())
            .unwrap_or(0);
        let keys = rx.open_table(KEYS).map_err(|e| err(&e))?;
        for row in keys.iter().map_err(|e| err(&e))? {
            let (k, v) = row.map_err(|e| err(&e))?;
            let (any, hard) = v.value();
            let name = k.value();
            let (scope, key) = name.split_once('\0').unwrap_or(("", name));
            index
                .keys
                .entry(scope.to_string())
                .or_default()
                .insert(key.to_string(), KeyGen { any, hard });
        }
        let bans = rx.open_table(BANS).map_err(|e| err(&e))?;
        for row in bans.iter().map_err(|e| err(&e))? {
            let (seq, v) = row.map_err(|e| err(&e))?;
            let (scope, target, kind, soft) = v.value();
            index.add_ban(
                scope,
                Ban {
                    seq: seq.value(),
                    matcher: BanMatch::from_parts(kind, target),
                    soft: soft == 1,
                },
            );
        }
        Ok(PurgeStore {
            db,
            path: path.to_path_buf(),
            index: RwLock::new(index),
        })
    }

    /// The sequence number of the latest purge. Record it *before* fetching
    /// an object: a purge that lands while the fetch is in flight then
    /// covers the object.
    pub fn current_seq(&self) -> u64 {
        self.index.read().seq
    }

    /// Purge surrogate `keys` in each of `scopes`. Returns the purge id.
    pub fn purge_keys(
        &self,
        scopes: &[String],
        keys: &[String],
        soft: bool,
    ) -> Result<u64, PurgeError> {
        let record = format!(
            "keys {keys:?} in {scopes:?}{}",
            if soft { " (soft)" } else { "" }
        );
        let names: Vec<(&String, &String)> = scopes
            .iter()
            .flat_map(|s| keys.iter().map(move |k| (s, k)))
            .collect();
        self.commit(&record, |tx, seq| {
            let mut table = tx.open_table(KEYS)?;
            let mut updated = Vec::with_capacity(names.len());
            for (scope, key) in &names {
                let name = scoped(scope, key);
                let prev = table
                    .get(name.as_str())?
                    .map(|v| v.value())
                    .unwrap_or((0, 0));
                let generation = KeyGen {
                    any: seq,
                    hard: if soft { prev.1 } else { seq },
                };
                table.insert(name.as_str(), (generation.any, generation.hard))?;
                updated.push(((*scope).clone(), (*key).clone(), generation));
            }
            Ok(Change::Keys(updated))
        })
    }

    /// Ban `matcher` in `scope`: every object in it fetched before now counts as purged.
    pub fn ban(&self, scope: &str, matcher: BanMatch, soft: bool) -> Result<u64, PurgeError> {
        let record = format!(
            "ban {matcher:?} in {scope}{}",
            if soft { " (soft)" } else { "" }
        );
        self.commit(&record, |tx, seq| {
            let mut table = tx.open_table(BANS)?;
            table.insert(
                seq,
                (scope, matcher.target(), matcher.kind(), u8::from(soft)),
            )?;
            Ok(Change::Ban(
                scope.to_string(),
                Ban {
                    seq,
                    matcher: matcher.clone(),
                    soft,
                },
            ))
        })
    }

    /// Has an object in `scope` at `target`, tagged with `keys` and fetched
    /// under sequence `fetched_at`, been purged since?
    pub fn check(&self, scope: &str, target: &str, keys: &[String], fetched_at: u64) -> Purged {
        let index = self.index.read();
        if index.seq <= fetched_at {
            return Purged::No;
        }
        let mut soft = false;
        // Purges are recorded per scope, or for every scope under "*".
        for scope in [scope, ALL_SCOPES] {
            if let Some(scope_keys) = index.keys.get(scope) {
                for g in keys.iter().filter_map(|k| scope_keys.get(k.as_str())) {
                    if g.hard > fetched_at {
                        return Purged::Hard;
                    }
                    soft |= g.any > fetched_at;
                }
            }
            if let Some(&(any, hard)) = index.exact.get(scope).and_then(|m| m.get(target)) {
                if hard > fetched_at {
                    return Purged::Hard;
                }
                soft |= any > fetched_at;
            }
            for ban in index.wide.get(scope).into_iter().flatten() {
                if ban.seq > fetched_at && ban.matcher.matches(target) {
                    if !ban.soft {
                        return Purged::Hard;
                    }
                    soft = true;
                }
            }
        }
        if soft { Purged::Soft } else { Purged::No }
    }

    /// The most recent purge-log records, newest first.
    pub fn log(&self, limit: usize) -> Result<Vec<(u64, String)>, PurgeError> {
        let err = |e: &dyn std::fmt::Display| PurgeError::Db {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let rx = self.db.begin_read().map_err(|e| err(&e))?;
        let table = rx.open_table(LOG).map_err(|e| err(&e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| err(&e))?.rev().take(limit) {
            let (k, v) = row.map_err(|e| err(&e))?;
            out.push((k.value(), v.value().to_string()));
        }
        Ok(out)
    }

    fn commit(
        &self,
        record: &str,
        apply: impl FnOnce(&redb::WriteTransaction, u64) -> Result<Change, redb::Error>,
    ) -> Result<u64, PurgeError> {
        let err = |e: &dyn std::fmt::Display| PurgeError::Db {
            path: self.path.clone(),
            message: e.to_string(),
        };
        // Writers are serialised by redb; the index lock is held across the
        // commit so the in-memory sequence never runs ahead of the disk.
        let mut index = self.index.write();
        let seq = index.seq + 1;
        let tx = self.db.begin_write().map_err(|e| err(&e))?;
        let change = apply(&tx, seq).map_err(|e| err(&e))?;
        {
            let mut meta = tx.open_table(META).map_err(|e| err(&e))?;
            meta.insert(SEQ, seq).map_err(|e| err(&e))?;
            let mut log = tx.open_table(LOG).map_err(|e| err(&e))?;
            log.insert(seq, record).map_err(|e| err(&e))?;
        }
        tx.commit().map_err(|e| err(&e))?;
        index.seq = seq;
        match change {
            Change::Keys(updated) => {
                for (scope, key, generation) in updated {
                    index.keys.entry(scope).or_default().insert(key, generation);
                }
            }
            Change::Ban(scope, ban) => index.add_ban(&scope, ban),
        }
        Ok(seq)
    }
}

enum Change {
    Keys(Vec<(String, String, KeyGen)>),
    Ban(String, Ban),
}

impl Index {
    fn add_ban(&mut self, scope: &str, ban: Ban) {
        match &ban.matcher {
            BanMatch::Exact(t) => {
                let e = self
                    .exact
                    .entry(scope.to_string())
                    .or_default()
                    .entry(t.clone())
                    .or_insert((0, 0));
                e.0 = e.0.max(ban.seq);
                if !ban.soft {
                    e.1 = e.1.max(ban.seq);
                }
            }
            _ => self.wide.entry(scope.to_string()).or_default().push(ban),
        }
    }
}

#[cfg(test)]
mod tests;
