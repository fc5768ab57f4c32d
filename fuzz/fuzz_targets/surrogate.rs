//! Surrogate-Key and Cache-Tag from arbitrary field lines: keys are
//! distinct, trimmed, non-empty and within the limits.
#![no_main]

use edgecache::http_cache::surrogate::{self, KeyField, KeyLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (seed, rest) = edgecache_fuzz::take_u64(data);
    let limits = KeyLimits {
        max_keys: (seed % 64) as usize,
        max_len: ((seed >> 8) % 300) as usize,
    };
    let fields = [
        KeyField {
            name: "surrogate-key".into(),
            separator: ' ',
        },
        KeyField {
            name: "cache-tag".into(),
            separator: ',',
        },
    ];
    let mut h = edgecache_fuzz::header("surrogate-key", rest);
    h.extend(edgecache_fuzz::header("cache-tag", rest));
    let got = surrogate::keys(&h, &fields, limits);
    assert!(got.keys.len() <= limits.max_keys);
    for (i, k) in got.keys.iter().enumerate() {
        assert!(!k.is_empty() && k.len() <= limits.max_len && k.trim() == k);
        assert!(!got.keys[..i].contains(k));
    }
});
