use super::*;
use redb::ReadableTableMetadata;

fn open(dir: &tempfile::TempDir) -> PurgeStore {
    PurgeStore::open(&dir.path().join("purge.redb")).expect("open")
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn key_purges_are_lazy_generation_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = open(&dir);
    let before = p.current_seq();
    assert_eq!(p.check("h", "/a", &s(&["k1"]), before), Purged::No);
    p.purge_keys(&s(&["h"]), &s(&["k1"]), true)
        .expect("soft purge");
    assert_eq!(p.check("h", "/a", &s(&["k1"]), before), Purged::Soft);
    assert_eq!(p.check("h", "/a", &s(&["k2"]), before), Purged::No);
    assert_eq!(
        p.check("other", "/a", &s(&["k1"]), before),
        Purged::No,
        "keys are scoped"
    );
    p.purge_keys(&s(&["*"]), &s(&["global"]), false)
        .expect("purge everywhere");
    assert_eq!(
        p.check("other", "/a", &s(&["global"]), before),
        Purged::Hard,
        "\"*\" covers every scope"
    );
    p.purge_keys(&s(&["h"]), &s(&["k1"]), false)
        .expect("hard purge");
    assert_eq!(p.check("h", "/a", &s(&["k1"]), before), Purged::Hard);
    let after = p.current_seq();
    assert_eq!(
        p.check("h", "/a", &s(&["k1"]), after),
        Purged::No,
        "objects fetched after the purge are fine"
    );
}

#[test]
fn bans_match_exact_prefix_and_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = open(&dir);
    let t0 = p.current_seq();
    p.ban("h", BanMatch::Exact("/x?y".into()), false)
        .expect("ban");
    p.ban("h", BanMatch::Prefix("/img/".into()), true)
        .expect("ban");
    let cases = [
        ("h", "/x?y", Purged::Hard),
        ("h", "/x", Purged::No),
        ("h", "/img/a.png", Purged::Soft),
        ("h", "/imgs", Purged::No),
        ("g", "/x?y", Purged::No),
    ];
    for (scope, target, want) in cases {
        assert_eq!(p.check(scope, target, &[], t0), want, "{scope} {target}");
    }
    p.ban("g", BanMatch::All, false).expect("ban all");
    assert_eq!(p.check("g", "/anything", &[], t0), Purged::Hard);
}

#[test]
fn purges_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0;
    {
        let p = open(&dir);
        t0 = p.current_seq();
        p.purge_keys(&s(&["h"]), &s(&["k"]), false).expect("purge");
        p.ban("h", BanMatch::Prefix("/p".into()), true)
            .expect("ban");
    }
    let p = open(&dir);
    assert_eq!(p.current_seq(), t0 + 2);
    assert_eq!(p.check("h", "/z", &s(&["k"]), t0), Purged::Hard);
    assert_eq!(p.check("h", "/p1", &[], t0), Purged::Soft);
    let log = p.log(10).expect("log");
    assert_eq!(log.len(), 2);
    assert!(log[0].1.contains("ban"), "{log:?}");
}

#[test]
fn unusable_path_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").expect("write");
    let err = PurgeStore::open(&file.join("purge.redb"))
        .err()
        .expect("error")
        .to_string();
    assert!(err.contains("purge state"), "{err}");
}

/// A lookup must not wait for a purge's commit: here the purge is held
/// inside its redb write (the test owns redb's writer) while a lookup runs.
#[test]
fn lookup_completes_while_a_purge_commit_is_in_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = std::sync::Arc::new(open(&dir));
    let t0 = p.current_seq();
    let blocker = p.db.begin_write().expect("hold redb's writer");
    let purging = {
        let p = p.clone();
        std::thread::spawn(move || p.ban("h", BanMatch::All, false))
    };
    // Wait until the purge is inside its commit path (it holds the writer lock).
    // (Polled for up to 10 s; the clock is read only in the node's clock module.)
    let mut waited = 0;
    while p.writer.try_lock().is_some() {
        assert!(waited < 10_000, "purge never started");
        std::thread::sleep(std::time::Duration::from_millis(1));
        waited += 1;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let looker = {
        let p = p.clone();
        std::thread::spawn(move || {
            let _ = tx.send((p.check("h", "/x", &[], t0), p.current_seq()));
        })
    };
    let seen = rx.recv_timeout(std::time::Duration::from_secs(10));
    drop(blocker);
    let id = purging.join().expect("purge thread").expect("purge");
    looker.join().expect("lookup thread");
    assert_eq!(
        seen,
        Ok((Purged::No, t0)),
        "the lookup answered while the purge was committing, and saw the state before it"
    );
    assert_eq!(p.check("h", "/x", &[], t0), Purged::Hard);
    assert_eq!(p.current_seq(), id);
}

/// A small deterministic generator (xorshift), so the model test needs no
/// extra crate and replays the same operations every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The rule `check` must follow, computed the slow way over every purge.
fn model(
    bans: &[(u64, String, BanMatch, bool)],
    keys: &[(u64, String, String, bool)],
    scope: &str,
    target: &str,
    tags: &[String],
    fetched_at: u64,
) -> Purged {
    let scopes = [scope, ALL_SCOPES];
    let newer = bans
        .iter()
        .filter(|(seq, s, m, _)| {
            *seq > fetched_at && scopes.contains(&s.as_str()) && m.matches(target)
        })
        .map(|(_, _, _, soft)| *soft)
        .chain(
            keys.iter()
                .filter(|(seq, s, k, _)| {
                    *seq > fetched_at && scopes.contains(&s.as_str()) && tags.contains(k)
                })
                .map(|(_, _, _, soft)| *soft),
        )
        .collect::<Vec<bool>>();
    if newer.iter().any(|soft| !soft) {
        Purged::Hard
    } else if newer.is_empty() {
        Purged::No
    } else {
        Purged::Soft
    }
}

/// Random purges over a small space of scopes, paths and keys, with the
/// compact (pruned) index compared against the full history after every
/// step and after reopening.
#[test]
fn pruned_index_answers_like_the_full_purge_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut p = open(&dir);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let paths = [
        "", "/", "/a", "/a/", "/a/b", "/a/bc", "/ab", "/b/x?q=1", "/b/",
    ];
    let scopes = ["h", "g", ALL_SCOPES];
    let tag_names = ["k1", "k2", "k3"];
    let mut bans = Vec::new();
    let mut keys = Vec::new();
    for step in 0..400 {
        let scope = scopes[rng.below(3) as usize].to_string();
        let soft = rng.below(2) == 0;
        let path = paths[rng.below(paths.len() as u64) as usize].to_string();
        match rng.below(7) {
            0..=2 => {
                let seq = p
                    .ban(&scope, BanMatch::Prefix(path.clone()), soft)
                    .expect("ban");
                bans.push((seq, scope, BanMatch::Prefix(path), soft));
            }
            3 | 4 => {
                let seq = p
                    .ban(&scope, BanMatch::Exact(path.clone()), soft)
                    .expect("ban");
                bans.push((seq, scope, BanMatch::Exact(path), soft));
            }
            5 => {
                let seq = p.ban(&scope, BanMatch::All, soft).expect("ban");
                bans.push((seq, scope, BanMatch::All, soft));
            }
            _ => {
                let key = tag_names[rng.below(3) as usize].to_string();
                let seq = p
                    .purge_keys(
                        std::slice::from_ref(&scope),
                        std::slice::from_ref(&key),
                        soft,
                    )
                    .expect("purge");
                keys.push((seq, scope, key, soft));
            }
        }
        if step % 40 == 39 {
            drop(p);
            p = open(&dir);
        }
        let now = p.current_seq();
        for _ in 0..20 {
            let scope = ["h", "g"][rng.below(2) as usize];
            let target = paths[rng.below(paths.len() as u64) as usize];
            let tags = vec![tag_names[rng.below(3) as usize].to_string()];
            let fetched_at = rng.below(now + 1);
            assert_eq!(
                p.check(scope, target, &tags, fetched_at),
                model(&bans, &keys, scope, target, &tags, fetched_at),
                "step {step}: {scope} {target:?} {tags:?} fetched at {fetched_at}"
            );
        }
    }
    let rows =
        p.db.begin_read()
            .expect("read")
            .open_table(BANS)
            .expect("bans")
            .len()
            .expect("len");
    assert!(
        (rows as usize) < bans.len() / 4,
        "covered ban rows are deleted: {rows} of {} left",
        bans.len()
    );
}

#[test]
fn a_newer_wider_ban_prunes_the_bans_it_covers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = open(&dir);
    let t0 = p.current_seq();
    for i in 0..1000 {
        p.ban("h", BanMatch::Prefix(format!("/p/{i}/")), i % 2 == 0)
            .expect("ban");
        p.ban("h", BanMatch::Exact(format!("/p/{i}/x")), true)
            .expect("ban");
    }
    assert_eq!(p.ban_entries(), 2000);
    p.ban("h", BanMatch::Prefix("/p/".into()), true)
        .expect("soft ban");
    assert_eq!(
        p.ban_entries(),
        501,
        "a soft prefix ban covers the soft bans under it, not the hard ones"
    );
    assert_eq!(p.check("h", "/p/1/y", &[], t0), Purged::Hard);
    assert_eq!(p.check("h", "/p/2/y", &[], t0), Purged::Soft);
    p.ban("h", BanMatch::Prefix("/p/".into()), false)
        .expect("hard ban");
    assert_eq!(p.ban_entries(), 1);
    p.purge_keys(&s(&["h"]), &s(&["k"]), false).expect("purge");
    p.ban("h", BanMatch::All, false).expect("ban all");
    assert_eq!(p.ban_entries(), 1, "the host-wide ban covers the rest");
    drop(p);
    let p = open(&dir);
    let db = p.db.begin_read().expect("read");
    assert_eq!(db.open_table(BANS).expect("bans").len().expect("len"), 1);
    assert_eq!(db.open_table(KEYS).expect("keys").len().expect("len"), 0);
    assert_eq!(p.check("h", "/p/1/y", &s(&["k"]), t0), Purged::Hard);
}

/// A database written before bans were pruned (every ban kept, keys as
/// (newest, newest hard)) opens, answers the same, and is compacted.
#[test]
fn opens_a_database_written_without_pruning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("purge.redb");
    {
        // Exactly the tables and rows the store wrote before pruning existed.
        let db = Database::create(&path).expect("create");
        let tx = db.begin_write().expect("write");
        {
            let mut meta = tx.open_table(META).expect("meta");
            meta.insert(SEQ, 6).expect("seq");
            let mut keys = tx.open_table(KEYS).expect("keys");
            keys.insert("h\0k", (2, 1)).expect("key");
            let mut bans = tx.open_table(BANS).expect("bans");
            bans.insert(3, ("h", "/a/b", 1, 1)).expect("ban");
            bans.insert(4, ("h", "/a/b/c", 0, 0)).expect("ban");
            bans.insert(5, ("h", "/a/", 1, 0)).expect("ban");
            bans.insert(6, ("g", "", 2, 1)).expect("ban");
            let mut log = tx.open_table(LOG).expect("log");
            for seq in 1..=6 {
                log.insert(seq, "old record").expect("log");
            }
        }
        tx.commit().expect("commit");
    }
    let p = PurgeStore::open(&path).expect("open an old database");
    assert_eq!(p.current_seq(), 6);
    let cases = [
        ("h", "/x", vec!["k"], 0, Purged::Hard),
        ("h", "/x", vec!["k"], 1, Purged::Soft),
        ("h", "/a/b/c", vec![], 4, Purged::Hard),
        ("h", "/a/z", vec![], 4, Purged::Hard),
        ("h", "/a/z", vec![], 5, Purged::No),
        ("g", "/anything", vec![], 5, Purged::Soft),
        ("g", "/anything", vec![], 6, Purged::No),
    ];
    for (scope, target, tags, fetched_at, want) in cases {
        assert_eq!(
            p.check(scope, target, &s(&tags), fetched_at),
            want,
            "{scope} {target} {tags:?} {fetched_at}"
        );
    }
    let db = p.db.begin_read().expect("read");
    let left: Vec<u64> = db
        .open_table(BANS)
        .expect("bans")
        .iter()
        .expect("iter")
        .map(|r| r.expect("row").0.value())
        .collect();
    assert_eq!(left, vec![5, 6], "the hard /a/ ban covers the two under it");
    assert_eq!(p.log(10).expect("log").len(), 6);
}

/// Concurrent local purges share group syncs: each returns durable, with
/// its own sequence, and every one is there after reopening.
#[test]
fn concurrent_purges_are_each_durable_when_they_return() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = std::sync::Arc::new(open(&dir));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| {
                        let id = p
                            .purge_keys(&s(&["h"]), &s(&[&format!("k{t}-{i}")]), false)
                            .expect("purge");
                        // Returned only once durable.
                        assert!(p.current_seq() >= id);
                        id
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut ids: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids, (1..=400).collect::<Vec<u64>>());
    drop(p);
    let p = open(&dir);
    assert_eq!(p.current_seq(), 400);
    assert_eq!(p.check("h", "/", &s(&["k7-49"]), 0), Purged::Hard);
}
