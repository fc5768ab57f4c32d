//! Keeping a URL's Vary index up to date as its variants are stored, and
//! its variant cap: storing one variant past `max_variants_per_url` evicts
//! the oldest (docs/vary.md).
//!
//! Index updates of one URL are serialised (a striped lock), so two
//! variants filled at once both land in the list. The index lives in the
//! store beside the variants, so the count survives restarts; a variant the
//! store evicted on its own is forgotten at the next update.

use crate::http_cache::cached_response::{StoredMeta, VaryIndex};
use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use storage::{ObjectKey, Store, StoredObject};
use tokio::sync::Mutex;

/// Stripes of the index-update lock.
const STRIPES: usize = 64;

static LOCKS: [Mutex<()>; STRIPES] = [const { Mutex::const_new(()) }; STRIPES];

/// A variant just stored, to be listed in its URL's index.
pub struct Listed {
    /// The store.
    pub store: Store,
    /// The URL's primary key, where the index lives.
    pub primary: ObjectKey,
    /// The fields the response varies on.
    pub names: Vec<String>,
    /// The variant's key.
    pub variant: ObjectKey,
    /// Most variants kept for the URL.
    pub cap: usize,
    /// Counts variants evicted for the cap.
    pub evicted: Counter,
}

impl Listed {
    /// Update the index in the background (the caller is a body's poll).
    pub fn spawn(self) {
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(self.update());
            }
            Err(_) => tracing::warn!("no runtime to update a Vary index; variant not listed"),
        }
    }

    /// Read the index, add the variant, evict past the cap, write it back.
    pub async fn update(self) {
        let _guard = LOCKS[usize::from(self.primary.0[0]) % STRIPES].lock().await;
        let mut index = match self
            .store
            .get(&self.primary)
            .await
            .map(|o| StoredMeta::decode(&o.meta))
        {
            Some(Ok(StoredMeta::VaryIndex(idx))) if idx.names == self.names => idx,
            _ => VaryIndex {
                names: self.names.clone(),
                variants: Vec::new(),
            },
        };
        let store = &self.store;
        let evicted = index.add(self.variant, self.cap, |k| store.contains(k));
        for key in &evicted {
            store.remove(key);
        }
        if !evicted.is_empty() {
            self.evicted.inc_by(evicted.len() as u64);
            tracing::debug!(
                primary = ?self.primary,
                evicted = evicted.len(),
                cap = self.cap,
                "variants past max_variants_per_url evicted"
            );
        }
        let meta: Bytes = StoredMeta::VaryIndex(index).encode().into();
        store.put(self.primary, StoredObject::new(meta, Bytes::new()));
    }
}
