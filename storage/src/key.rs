//! The store's key: a 32-byte digest computed by the caller.

use foyer::Code;

/// A 32-byte object key. Callers derive it with a stable hash (blake3), so the
/// same logical key maps to the same on-disk entry across restarts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(pub [u8; 32]);

impl ObjectKey {
    /// Derive a key by hashing `parts` with blake3, each part length-prefixed so
    /// that `("ab", "c")` and `("a", "bc")` never collide.
    pub fn derive(parts: &[&[u8]]) -> Self {
        // One hash over the concatenation (the same bytes an incremental
        // hasher would see, so keys are unchanged): far cheaper than an
        // update per part for the short keys of the hit path.
        let len: usize = parts.iter().map(|p| p.len() + 8).sum();
        if len <= 512 {
            let mut buf = [0u8; 512];
            let mut at = 0;
            for p in parts {
                buf[at..at + 8].copy_from_slice(&(p.len() as u64).to_le_bytes());
                buf[at + 8..at + 8 + p.len()].copy_from_slice(p);
                at += 8 + p.len();
            }
            return ObjectKey(*blake3::hash(&buf[..at]).as_bytes());
        }
        let mut h = blake3::Hasher::new();
        for p in parts {
            h.update(&(p.len() as u64).to_le_bytes());
            h.update(p);
        }
        ObjectKey(*h.finalize().as_bytes())
    }

    /// The key as lower-case hex, for logs and the Cache-Status `key` parameter.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectKey({})", &self.to_hex()[..16])
    }
}

impl Code for ObjectKey {
    fn encode(&self, writer: &mut impl std::io::Write) -> foyer::Result<()> {
        writer.write_all(&self.0).map_err(foyer::Error::io_error)
    }

    fn decode(reader: &mut impl std::io::Read) -> foyer::Result<Self> {
        let mut k = [0u8; 32];
        reader.read_exact(&mut k).map_err(foyer::Error::io_error)?;
        Ok(ObjectKey(k))
    }

    fn estimated_size(&self) -> usize {
        32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys written by earlier builds (an incremental hasher, one update per
    /// length and part) must still be found: the one-shot path is the same hash.
    #[test]
    fn one_shot_derive_matches_the_incremental_form() {
        let long = vec![b'z'; 700];
        for parts in [
            vec![
                &b"edgecache/primary/1"[..],
                b"http",
                b"example.com",
                b"/a?b",
            ],
            vec![&b""[..]],
            vec![&b"x"[..], &long[..]],
        ] {
            let mut h = blake3::Hasher::new();
            for p in &parts {
                h.update(&(p.len() as u64).to_le_bytes());
                h.update(p);
            }
            assert_eq!(ObjectKey::derive(&parts).0, *h.finalize().as_bytes());
        }
    }

    #[test]
    fn derive_is_length_prefixed() {
        assert_ne!(
            ObjectKey::derive(&[b"ab", b"c"]),
            ObjectKey::derive(&[b"a", b"bc"])
        );
        assert_ne!(ObjectKey::derive(&[b"x"]), ObjectKey::derive(&[b"x", b""]));
    }

    /// Keys are part of the on-disk format: a change here orphans every
    /// stored object. The values were computed outside this code (blake3 over
    /// each part's u64 little-endian length followed by the part) and must
    /// never change; short keys take the one-shot path, long ones the
    /// incremental one.
    #[test]
    fn derived_keys_are_stable_across_releases() {
        let long = vec![b'z'; 700];
        let cases: [(&[&[u8]], &str); 3] = [
            (
                &[b"edgecache"],
                "1358267cface1133b9f162b1fb50ee198f10ba6311d5b880bfd0ce165eaf973e",
            ),
            (
                &[b"edgecache/primary/1", b"http", b"example.com", b"/a?b"],
                "3311c3b9871c961b3adbff628f4704ffb8b05ac7fde966f0d9f4b8e6b205fbd5",
            ),
            (
                &[b"x", &long],
                "b36d2d87b59551bc921f7410679a96502482f337ba78fd15e6b5f1941fc48f1a",
            ),
        ];
        for (parts, want) in cases {
            assert_eq!(ObjectKey::derive(parts).to_hex(), want, "{parts:?}");
        }
    }
}
