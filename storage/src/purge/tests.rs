use super::*;

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
