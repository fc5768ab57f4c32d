//! One async lock per object key, made on demand and gone when nobody holds
//! it: so that work on one key (fetching a slice, making a coded form) is
//! done once while others wait for it, not once per concurrent request.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use storage::ObjectKey;

/// The locks in use, by key.
#[derive(Default)]
pub struct KeyedLocks {
    held: Mutex<HashMap<ObjectKey, Weak<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    /// The lock for `key`: the one in use, or a new one. The map keeps only
    /// weak references and drops dead ones whenever it grows, so it holds
    /// no more entries than there are keys being worked on (plus those
    /// released since the last new one).
    pub fn lock_for(&self, key: ObjectKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.held.lock();
        if let Some(l) = map.get(&key).and_then(Weak::upgrade) {
            return l;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let l = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(key, Arc::downgrade(&l));
        l
    }

    /// Keys with a lock in the map (live or not yet dropped).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_lock_per_key_while_held_and_none_kept_after() {
        let locks = KeyedLocks::default();
        let (a, b) = (ObjectKey::derive(&[b"a"]), ObjectKey::derive(&[b"b"]));
        let first = locks.lock_for(a);
        assert!(
            Arc::ptr_eq(&first, &locks.lock_for(a)),
            "same key, same lock"
        );
        assert!(
            !Arc::ptr_eq(&first, &locks.lock_for(b)),
            "keys do not share"
        );
        let guard = first.lock().await;
        assert!(locks.lock_for(a).try_lock().is_err(), "held for everyone");
        drop(guard);
        drop(first);
        // Dead entries go when the next key is added.
        let _c = locks.lock_for(ObjectKey::derive(&[b"c"]));
        assert_eq!(locks.held(), 1);
    }
}
