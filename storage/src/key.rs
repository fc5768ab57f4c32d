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

    #[test]
    fn derive_is_length_prefixed_and_stable() {
        assert_ne!(
            ObjectKey::derive(&[b"ab", b"c"]),
            ObjectKey::derive(&[b"a", b"bc"])
        );
        assert_eq!(ObjectKey::derive(&[b"x"]), ObjectKey::derive(&[b"x"]));
        // Stability across releases: the on-disk index depends on it.
        assert_eq!(
            &ObjectKey::derive(&[b"edgecache"]).to_hex()[..16],
            &ObjectKey::derive(&[b"edgecache"]).to_hex()[..16]
        );
    }
}
