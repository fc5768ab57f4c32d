//! The stored-object decoder on arbitrary bytes (what a damaged disk block
//! returns): an error or an object that re-encodes and decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::StoredObject;

fuzz_target!(|data: &[u8]| {
    if let Ok(o) = StoredObject::decode_from(&mut &data[..]) {
        let mut v = Vec::new();
        o.encode_to(&mut v).expect("encode to a vec");
        assert_eq!(v.len(), o.encoded_len());
        assert_eq!(StoredObject::decode_from(&mut &v[..]), Ok(o));
    }
});
