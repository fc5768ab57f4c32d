//! Finding the stored response for a request: primary key, then the variant
//! key when the stored response varies (RFC 9111 §4.1).

use crate::http_cache::cached_response::{CachedResponse, StoredMeta};
use crate::http_cache::{key, vary};
use http::HeaderMap;
use storage::{ObjectKey, Payload, Store, StoredObject};

/// A stored response that matches the request.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The key it is stored under.
    pub key: ObjectKey,
    /// Status, headers, timing.
    pub meta: CachedResponse,
    /// The body: inline, or chunks behind a manifest.
    pub body: Payload,
}

impl Entry {
    /// Re-encode for the store.
    pub fn to_object(&self) -> StoredObject {
        StoredObject {
            meta: StoredMeta::Response(self.meta.clone()).encode().into(),
            body: self.body.clone(),
        }
    }
}

/// The outcome of a lookup.
#[derive(Debug)]
pub enum Lookup {
    /// A matching stored response.
    Hit(Box<Entry>),
    /// Nothing stored for the URI.
    UriMiss,
    /// The URI has stored variants, but none for this request; the response
    /// varies on these fields.
    VaryMiss(Vec<String>),
}

/// Look `primary` up, following a Vary index to the request's variant.
pub async fn find(store: &Store, primary: ObjectKey, request: &HeaderMap) -> Lookup {
    let found = find_entry(store, primary, request).await;
    // A chunked body whose chunks are no longer all held cannot be served.
    if let Lookup::Hit(entry) = &found
        && let Payload::Chunked(manifest) = &entry.body
        && !store.chunks_present(&entry.key, manifest)
    {
        tracing::debug!(key = ?entry.key, "chunked object lost a chunk; treating as a miss");
        store.remove(&entry.key);
        return Lookup::UriMiss;
    }
    found
}

async fn find_entry(store: &Store, primary: ObjectKey, request: &HeaderMap) -> Lookup {
    let Some(obj) = store.get(&primary).await else {
        return Lookup::UriMiss;
    };
    match StoredMeta::decode(&obj.meta) {
        Ok(StoredMeta::Response(meta)) if meta.variant.is_empty() => Lookup::Hit(Box::new(Entry {
            key: primary,
            meta,
            body: obj.body,
        })),
        Ok(StoredMeta::VaryIndex(names)) => {
            let selected = vary::selected(&names, request);
            let vkey = key::variant(&primary, &selected);
            let Some(vobj) = store.get(&vkey).await else {
                return Lookup::VaryMiss(names);
            };
            match StoredMeta::decode(&vobj.meta) {
                Ok(StoredMeta::Response(meta)) if vary::matches(&meta.variant, request) => {
                    Lookup::Hit(Box::new(Entry {
                        key: vkey,
                        meta,
                        body: vobj.body,
                    }))
                }
                _ => Lookup::VaryMiss(names),
            }
        }
        Ok(_) => Lookup::VaryMiss(Vec::new()),
        Err(e) => {
            tracing::warn!(error = %e, "undecodable metadata; treating as a miss");
            store.remove(&primary);
            Lookup::UriMiss
        }
    }
}
