//! The node's stored response metadata on arbitrary bytes: an error or a
//! value that encodes and decodes to itself.
#![no_main]

use edgecache::http_cache::cached_response::StoredMeta;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let shared = StoredMeta::decode_shared(&bytes::Bytes::copy_from_slice(data));
    let owned = StoredMeta::decode(data);
    assert_eq!(shared, owned);
    if let Ok(m) = owned {
        assert_eq!(StoredMeta::decode(&m.encode()), Ok(m));
    }
});
