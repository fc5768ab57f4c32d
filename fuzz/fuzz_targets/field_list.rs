//! List splitting and unquoting from arbitrary text: members are trimmed
//! and non-empty; several lines split like one.
#![no_main]

use edgecache::http_cache::field_list;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for m in field_list::split(&text) {
        assert!(!m.is_empty());
        assert!(!m.starts_with([' ', '\t']) && !m.ends_with([' ', '\t']));
        let _ = field_list::unquote(&m);
    }
    let _ = field_list::unquote(&text);
    let _ = field_list::members(&edgecache_fuzz::header("x-list", data), "x-list");
});
