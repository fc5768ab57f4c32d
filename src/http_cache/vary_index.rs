//! The Vary index stored under a primary key (RFC 9111 §4.1): the fields
//! the URL's responses vary on, and the variant keys stored for it, oldest
//! first, so the number of variants per URL can be capped.
//!
//! Past the cap the oldest variant is evicted (removed from the store) to
//! make room for the new one: the cache keeps serving the variants clients
//! ask for now, and a flood of distinct selecting values (a raw header
//! nobody declared a rule for) cannot grow one URL without bound.

use storage::ObjectKey;

/// What is stored at a primary key whose responses vary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaryIndex {
    /// The selecting field names, lower-case.
    pub names: Vec<String>,
    /// Variant keys stored under this URL, oldest first.
    pub variants: Vec<ObjectKey>,
}

impl VaryIndex {
    /// Note that `key` was (re)stored, at most `cap` variants being kept:
    /// keys no longer held (`held` false) are forgotten, `key` becomes the
    /// newest, and the oldest beyond `cap` are returned for eviction.
    pub fn add(
        &mut self,
        key: ObjectKey,
        cap: usize,
        held: impl Fn(&ObjectKey) -> bool,
    ) -> Vec<ObjectKey> {
        self.variants.retain(|k| *k != key && held(k));
        self.variants.push(key);
        let excess = self.variants.len().saturating_sub(cap.max(1));
        self.variants.drain(..excess).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u8) -> ObjectKey {
        ObjectKey([n; 32])
    }

    /// The cap keeps the newest variants; gone keys do not count.
    #[test]
    fn add_caps_and_orders_variants() {
        let cases: &[(&[u8], u8, usize, &[u8], &[u8], &[u8])] = &[
            // (before, added, cap, not held, after, evicted)
            (&[], 1, 2, &[], &[1], &[]),
            (&[1], 2, 2, &[], &[1, 2], &[]),
            (&[1, 2], 3, 2, &[], &[2, 3], &[1]),
            (&[1, 2], 1, 2, &[], &[2, 1], &[]),
            (&[1, 2], 3, 2, &[1], &[2, 3], &[]),
            (&[1, 2, 3, 4], 5, 2, &[], &[4, 5], &[1, 2, 3]),
            (&[1], 2, 0, &[], &[2], &[1]),
        ];
        for (before, added, cap, gone, after, evicted) in cases {
            let mut idx = VaryIndex {
                names: vec!["foo".into()],
                variants: before.iter().map(|n| k(*n)).collect(),
            };
            let out = idx.add(k(*added), *cap, |key| !gone.contains(&key.0[0]));
            let want: Vec<ObjectKey> = after.iter().map(|n| k(*n)).collect();
            assert_eq!(idx.variants, want, "{before:?} + {added}");
            let want: Vec<ObjectKey> = evicted.iter().map(|n| k(*n)).collect();
            assert_eq!(out, want, "{before:?} + {added}");
        }
    }
}
