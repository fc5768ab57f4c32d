//! Vary and variant matching from arbitrary field lines: names are
//! normalised, and a request always matches the variant made from it.
#![no_main]

use edgecache::http_cache::vary::{self, Vary};
use http::{HeaderMap, HeaderName};
use libfuzzer_sys::fuzz_target;

const REQUEST_FIELDS: [&str; 3] = ["accept-encoding", "accept-language", "x-device"];

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = (split as usize).min(rest.len());
    let (vary_bytes, request_bytes) = rest.split_at(at);
    let parsed = vary::parse(&edgecache_fuzz::header("vary", vary_bytes));
    let names: Vec<String> = match parsed {
        Vary::Fields(names) => {
            assert!(names.windows(2).all(|w| w[0] < w[1]));
            assert!(
                names
                    .iter()
                    .all(|n| *n != "*" && *n == n.to_ascii_lowercase())
            );
            names
        }
        Vary::Any | Vary::None => REQUEST_FIELDS.iter().map(|s| s.to_string()).collect(),
    };
    let mut request = HeaderMap::new();
    for v in edgecache_fuzz::lines(request_bytes) {
        let pick = v.as_bytes().first().copied().unwrap_or(0) as usize % REQUEST_FIELDS.len();
        request.append(HeaderName::from_static(REQUEST_FIELDS[pick]), v);
    }
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| HeaderName::from_bytes(n.as_bytes()).is_ok())
        .collect();
    let stored = vary::selected(&names, &request);
    assert!(vary::matches(&stored, &request));
});
