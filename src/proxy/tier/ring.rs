//! Rendezvous (highest-random-weight) hashing: which peer is an object's
//! home, and which come next. Every peer gets a score for the object,
//! `blake3(peer id, primary key)`; peers are tried by descending score. Each
//! node computes the same order from the same peer list, with no shared
//! state, and removing a peer moves only the objects whose home it was (to
//! their second choice) — the property that makes a dead peer cheap.

use storage::ObjectKey;

/// Domain separator, so these scores never equal any other blake3 use.
const DOMAIN: &[u8] = b"edgecache/tier/rendezvous/1";

/// The score of `peer` (its id as configured, e.g. `10.0.0.1:8080`) for the
/// object with primary key `key`: the first 8 bytes of a blake3 hash,
/// stable across processes, versions and platforms.
pub fn score(peer: &str, key: &ObjectKey) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN);
    h.update(&(peer.len() as u64).to_le_bytes());
    h.update(peer.as_bytes());
    h.update(&key.0);
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// The indexes of `peers` in the order to try them for `key`: highest score
/// first (the home peer), ties broken by the peer id so that every node
/// agrees.
pub fn order<S: AsRef<str>>(peers: &[S], key: &ObjectKey) -> Vec<usize> {
    let mut scored: Vec<(u64, &str, usize)> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| (score(p.as_ref(), key), p.as_ref(), i))
        .collect();
    scored.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().map(|(_, _, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_cache::key;

    fn k(path: &str) -> ObjectKey {
        key::primary("http", "cdn.test", path)
    }

    const PEERS: [&str; 3] = ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"];

    /// Pinned values: a change here changes every object's home in a
    /// running fleet, so it must be deliberate (and every node upgraded at
    /// once).
    #[test]
    fn scores_are_stable() {
        let got = [
            score("10.0.0.1:8080", &k("/a")),
            score("10.0.0.2:8080", &k("/a")),
            score("10.0.0.1:8080", &k("/b")),
        ];
        assert_eq!(
            got,
            [
                2166562130916125073,
                15060878267052887033,
                2020823584182104781
            ]
        );
        assert_eq!(order(&PEERS, &k("/pinned")), vec![1, 0, 2]);
    }

    /// The order is a permutation, highest score first, the same whatever
    /// order the peers are listed in.
    #[test]
    fn order_is_by_descending_score_and_independent_of_listing() {
        for path in ["/", "/a", "/b?x=1", "/img/logo.png"] {
            let o = order(&PEERS, &k(path));
            let mut sorted = o.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![0, 1, 2], "{path}: a permutation");
            let scores: Vec<u64> = o.iter().map(|i| score(PEERS[*i], &k(path))).collect();
            assert!(
                scores.windows(2).all(|w| w[0] >= w[1]),
                "{path}: {scores:?}"
            );
            let reversed: Vec<&str> = PEERS.iter().rev().copied().collect();
            let home = PEERS[o[0]];
            assert_eq!(reversed[order(&reversed, &k(path))[0]], home, "{path}");
        }
        assert!(order::<&str>(&[], &k("/")).is_empty());
    }

    /// Objects spread over the peers, and removing one peer moves only the
    /// objects whose home it was; each goes to its second choice.
    #[test]
    fn spreads_and_removal_moves_only_the_removed_peers_objects() {
        let keys: Vec<ObjectKey> = (0..3000).map(|i| k(&format!("/o/{i}"))).collect();
        let mut homes = [0usize; 3];
        for key in &keys {
            homes[order(&PEERS, key)[0]] += 1;
        }
        for (i, n) in homes.iter().enumerate() {
            assert!((800..=1200).contains(n), "peer {i} is home to {n} of 3000");
        }
        let without_b = [PEERS[0], PEERS[2]];
        for key in &keys {
            let full = order(&PEERS, key);
            let home = PEERS[full[0]];
            let new_home = without_b[order(&without_b, key)[0]];
            if home == PEERS[1] {
                assert_eq!(new_home, PEERS[full[1]], "moves to its second choice");
            } else {
                assert_eq!(new_home, home, "unmoved");
            }
        }
    }
}
