//! Cache-Control from arbitrary field lines: no panic, values within the cap.
#![no_main]

use edgecache::http_cache::cache_control::{CacheControl, DELTA_SECONDS_CAP, Seconds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let h = edgecache_fuzz::header("cache-control", data);
    for cc in [
        CacheControl::from_headers(&h, "cache-control"),
        CacheControl::parse(&String::from_utf8_lossy(data)),
    ] {
        for s in [cc.max_age(), cc.s_maxage(), cc.min_fresh()]
            .into_iter()
            .flatten()
        {
            if let Seconds::Valid(v) = s {
                assert!(v <= DELTA_SECONDS_CAP);
            }
        }
        let _ = (cc.no_cache(), cc.private(), cc.max_stale(), cc.no_store());
        let _ = (cc.stale_while_revalidate(), cc.stale_if_error());
    }
});
