//! The in-memory purge index: per scope, the surrogate-key generations, the
//! newest host-wide ban, and a radix trie of URL bans (exact and prefix).
//!
//! A lookup costs one hash probe per scope and per object key plus one walk
//! down the trie along the target, whatever the number of purges recorded.
//! The index is kept *compact*: a ban that a newer one covers is pruned when
//! the newer one arrives, and the sequence numbers of the pruned redb rows
//! are handed back so the store can delete them too.
//!
//! Every entry is a [`Gen`]: the newest hard purge and the newest soft purge
//! newer than it. Those are also the only two redb rows an entry keeps alive:
//! an older soft row is covered by any newer purge of the same thing, an
//! older hard row by a newer hard one.

use super::{BanMatch, Purged};
use std::collections::HashMap;

/// The live purges of one entry: the newest hard purge and the newest soft
/// purge newer than it (0: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Gen {
    /// Sequence of the newest soft purge, when newer than `hard`; else 0.
    pub soft: u64,
    /// Sequence of the newest hard purge; 0 when none.
    pub hard: u64,
}

// === impl Gen ===

impl Gen {
    /// From the on-disk pair (newest purge of any kind, newest hard purge).
    pub fn from_pair(any: u64, hard: u64) -> Gen {
        Gen {
            soft: if any > hard { any } else { 0 },
            hard,
        }
    }

    /// The on-disk pair (newest purge of any kind, newest hard purge).
    pub fn pair(self) -> (u64, u64) {
        (self.soft.max(self.hard), self.hard)
    }

    fn is_empty(self) -> bool {
        self.soft == 0 && self.hard == 0
    }

    /// Record purge `seq` (newer than every purge recorded so far); returns
    /// the rows it makes redundant.
    pub fn add(&mut self, seq: u64, soft: bool, dead: &mut Vec<u64>) {
        dead.extend([self.soft].into_iter().filter(|&s| s != 0));
        self.soft = 0;
        if soft {
            self.soft = seq;
        } else {
            dead.extend([self.hard].into_iter().filter(|&s| s != 0));
            self.hard = seq;
        }
    }

    /// Drop what `cover` (the purges of a wider match) makes redundant: a
    /// soft purge older than any covering purge, a hard one older than a
    /// covering hard purge.
    fn prune_under(&mut self, cover: Gen, dead: &mut Vec<u64>) {
        if self.soft != 0 && self.soft < cover.soft.max(cover.hard) {
            dead.push(self.soft);
            self.soft = 0;
        }
        if self.hard != 0 && self.hard < cover.hard {
            dead.push(self.hard);
            self.hard = 0;
        }
    }

    fn merge(self, other: Gen) -> Gen {
        Gen {
            soft: self.soft.max(other.soft),
            hard: self.hard.max(other.hard),
        }
    }

    /// Hard if a hard purge is newer than `fetched_at`, else soft if any purge is.
    pub fn verdict(self, fetched_at: u64) -> Purged {
        if self.hard > fetched_at {
            Purged::Hard
        } else if self.soft > fetched_at {
            Purged::Soft
        } else {
            Purged::No
        }
    }
}

/// A radix-trie node. The root has an empty label.
#[derive(Default)]
struct TrieNode {
    /// The bytes of the edge from the parent.
    label: Box<[u8]>,
    /// Bans on every target starting with the path to here.
    prefix: Gen,
    /// Bans on exactly the path to here.
    exact: Gen,
    /// Sorted by the first byte of their labels, which differ.
    children: Vec<TrieNode>,
}

// === impl TrieNode ===

impl TrieNode {
    fn child_index(&self, byte: u8) -> Result<usize, usize> {
        self.children.binary_search_by_key(&byte, |c| c.label[0])
    }

    /// The node for exactly `path`, created (splitting edges) if missing.
    fn entry(&mut self, path: &[u8]) -> &mut TrieNode {
        let Some(&first) = path.first() else {
            return self;
        };
        let i = match self.child_index(first) {
            Ok(i) => i,
            Err(i) => {
                self.children.insert(
                    i,
                    TrieNode {
                        label: path.into(),
                        ..TrieNode::default()
                    },
                );
                return &mut self.children[i];
            }
        };
        let common = common_len(&self.children[i].label, path);
        if common < self.children[i].label.len() {
            // Split the edge: a new node for the shared part takes the old child.
            let old = std::mem::take(&mut self.children[i]);
            let mut tail = old;
            let head: Box<[u8]> = tail.label[..common].into();
            tail.label = tail.label[common..].into();
            self.children[i] = TrieNode {
                label: head,
                children: vec![tail],
                ..TrieNode::default()
            };
        }
        self.children[i].entry(&path[common..])
    }

    /// Every ban covering `target`, merged, walking the trie once.
    fn covering(&self, mut target: &[u8]) -> Gen {
        let mut node = self;
        let mut found = Gen::default();
        loop {
            found = found.merge(node.prefix);
            let Some(&first) = target.first() else {
                return found.merge(node.exact);
            };
            match node.child_index(first) {
                Ok(i) if target.starts_with(&node.children[i].label) => {
                    node = &node.children[i];
                    target = &target[node.label.len()..];
                }
                _ => return found,
            }
        }
    }

    /// Prune every ban in this subtree under `cover`; drop emptied leaves.
    fn prune_subtree(&mut self, cover: Gen, dead: &mut Vec<u64>) {
        self.prefix.prune_under(cover, dead);
        self.exact.prune_under(cover, dead);
        for child in &mut self.children {
            child.prune_subtree(cover, dead);
        }
        self.children
            .retain(|c| !(c.prefix.is_empty() && c.exact.is_empty() && c.children.is_empty()));
    }

    /// Record a prefix ban at `path` and prune what it covers below it.
    fn add_prefix(&mut self, path: &[u8], seq: u64, soft: bool, dead: &mut Vec<u64>) {
        let node = self.entry(path);
        node.prefix.add(seq, soft, dead);
        let cover = node.prefix;
        node.exact.prune_under(cover, dead);
        for child in &mut node.children {
            child.prune_subtree(cover, dead);
        }
        node.children
            .retain(|c| !(c.prefix.is_empty() && c.exact.is_empty() && c.children.is_empty()));
    }

    fn count(&self) -> usize {
        usize::from(!self.prefix.is_empty())
            + usize::from(!self.exact.is_empty())
            + self.children.iter().map(TrieNode::count).sum::<usize>()
    }
}

fn common_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The purges recorded for one scope.
#[derive(Default)]
struct Scope {
    /// Surrogate key -> generation.
    keys: HashMap<String, Gen>,
    /// Host-wide bans.
    all: Gen,
    /// URL bans, exact and prefix.
    urls: TrieNode,
}

/// Changes the store must mirror in redb after an index update.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Pruned {
    /// Ban rows (by sequence) that newer bans cover.
    pub bans: Vec<u64>,
    /// Surrogate keys (scope, key) whose generation a host-wide ban covers,
    /// with what remains of it (`None`: remove the row).
    pub keys: Vec<(String, String, Option<Gen>)>,
}

/// The whole index.
#[derive(Default)]
pub(super) struct Index {
    /// The latest purge sequence made durable.
    pub seq: u64,
    scopes: HashMap<String, Scope>,
}

// === impl Index ===

impl Index {
    /// Set a surrogate key's generation (from disk, or after a key purge).
    /// Returns the pruned form when the scope's host-wide bans cover it.
    pub fn set_key(&mut self, scope: &str, key: &str, generation: Gen) -> Option<Option<Gen>> {
        let s = self.scopes.entry(scope.to_string()).or_default();
        let mut g = generation;
        let mut dead = Vec::new();
        g.prune_under(s.all, &mut dead);
        if g.is_empty() {
            s.keys.remove(key);
        } else {
            s.keys.insert(key.to_string(), g);
        }
        (!dead.is_empty()).then_some((!g.is_empty()).then_some(g))
    }

    /// The generation of a surrogate key in `scope`.
    pub fn key(&self, scope: &str, key: &str) -> Gen {
        self.scopes
            .get(scope)
            .and_then(|s| s.keys.get(key))
            .copied()
            .unwrap_or_default()
    }

    /// Record ban `seq` (newer than every ban recorded so far) and prune
    /// what it covers.
    pub fn add_ban(&mut self, scope: &str, seq: u64, matcher: &BanMatch, soft: bool) -> Pruned {
        let s = self.scopes.entry(scope.to_string()).or_default();
        let mut pruned = Pruned::default();
        let dead = &mut pruned.bans;
        match matcher {
            BanMatch::Exact(t) => s.urls.entry(t.as_bytes()).exact.add(seq, soft, dead),
            BanMatch::Prefix(p) => s.urls.add_prefix(p.as_bytes(), seq, soft, dead),
            BanMatch::All => {
                s.all.add(seq, soft, dead);
                let cover = s.all;
                s.urls.prune_subtree(cover, dead);
                s.keys.retain(|key, g| {
                    let mut gone = Vec::new();
                    g.prune_under(cover, &mut gone);
                    if !gone.is_empty() {
                        let left = (!g.is_empty()).then_some(*g);
                        pruned.keys.push((scope.to_string(), key.clone(), left));
                    }
                    !g.is_empty()
                });
            }
        }
        pruned
    }

    /// Every purge in `scope` covering `target` or one of `keys`, merged.
    fn covering(&self, scope: &str, target: &str, keys: &[String]) -> Gen {
        let Some(s) = self.scopes.get(scope) else {
            return Gen::default();
        };
        keys.iter()
            .filter_map(|k| s.keys.get(k.as_str()))
            .fold(s.all.merge(s.urls.covering(target.as_bytes())), |a, g| {
                a.merge(*g)
            })
    }

    /// The verdict for an object in `scopes` (its own and the all-scopes
    /// scope) at `target`, tagged `keys`, fetched under `fetched_at`.
    pub fn check(
        &self,
        scopes: [&str; 2],
        target: &str,
        keys: &[String],
        fetched_at: u64,
    ) -> Purged {
        if self.seq <= fetched_at {
            return Purged::No;
        }
        let g = scopes
            .iter()
            .map(|s| self.covering(s, target, keys))
            .fold(Gen::default(), Gen::merge);
        g.verdict(fetched_at)
    }

    /// How many ban entries (exact, prefix or host-wide, soft or hard
    /// counted once per target) the index holds, over every scope.
    pub fn ban_entries(&self) -> usize {
        self.scopes
            .values()
            .map(|s| usize::from(!s.all.is_empty()) + s.urls.count())
            .sum()
    }
}
