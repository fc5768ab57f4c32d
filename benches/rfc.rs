//! Criterion micro-benchmarks of the pure hit-path parts (`cargo bench --bench rfc`):
//! Cache-Control parsing, key and variant hashing, the freshness decision,
//! and object encoding and decoding. Each hit-path step is measured in the
//! form the hit path calls it (`decide_with`, `decode_shared`); the other
//! forms are measured beside it for comparison.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use edgecache::http_cache::cached_response::{CachedResponse, StoredMeta};
use edgecache::http_cache::decision::{Facts, RequestDirectives, decide, decide_with};
use edgecache::http_cache::{CacheControl, Policy, key, vary};
use http::{HeaderMap, HeaderValue, StatusCode};
use std::hint::black_box;
use std::time::{Duration, SystemTime};
use storage::StoredObject;

fn stored() -> CachedResponse {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut headers = HeaderMap::new();
    headers.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=3600, stale-while-revalidate=60"),
    );
    headers.insert(
        "date",
        HeaderValue::from_static("Tue, 14 Nov 2023 22:13:20 GMT"),
    );
    headers.insert("etag", HeaderValue::from_static("\"abc123\""));
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert("content-length", HeaderValue::from_static("1024"));
    CachedResponse {
        status: StatusCode::OK,
        headers,
        request_time: t0,
        response_time: t0,
        initial_age: 0,
        variant: vec![],
        purge_seq: 0,
        surrogate_keys: vec!["product-1".into()],
    }
}

fn benches(c: &mut Criterion) {
    c.bench_function("cache_control_parse", |b| {
        b.iter(|| {
            CacheControl::parse(black_box(
                "public, max-age=3600, s-maxage=600, stale-while-revalidate=60",
            ))
        })
    });
    c.bench_function("primary_key", |b| {
        b.iter(|| {
            key::primary(
                black_box("http"),
                black_box("www.example.com"),
                black_box("/products/42?color=red"),
            )
        })
    });
    let mut req = HeaderMap::new();
    req.insert("accept-encoding", HeaderValue::from_static("gzip, br"));
    req.insert(
        "accept-language",
        HeaderValue::from_static("en-GB, en;q=0.8"),
    );
    let names = vec!["accept-encoding".to_string(), "accept-language".to_string()];
    let primary = key::primary("http", "www.example.com", "/");
    c.bench_function("variant_key", |b| {
        b.iter(|| {
            key::variant(
                &primary,
                &vary::selected(black_box(&names), &req, &Default::default()),
            )
        })
    });
    let entry = stored();
    let policy = Policy::default();
    let directives = RequestDirectives::from_headers(&HeaderMap::new(), true);
    let now = entry.response_time + Duration::from_secs(10);
    // The hit path decides with the object's facts computed once, when its
    // metadata is decoded (`decide_with`); `decide` recomputes them.
    let facts = Facts::of(&entry, &policy);
    c.bench_function("freshness_decision_hit_path", |b| {
        b.iter(|| decide_with(black_box(now), &directives, &entry, &facts))
    });
    c.bench_function("freshness_decision_with_facts", |b| {
        b.iter(|| decide(black_box(now), &directives, &entry, &policy))
    });
    let meta: Bytes = StoredMeta::Response(entry.clone()).encode().into();
    let object = StoredObject::new(meta.clone(), Bytes::from(vec![b'x'; 1024]));
    c.bench_function("meta_encode", |b| {
        b.iter(|| StoredMeta::Response(black_box(entry.clone())).encode())
    });
    // The hit path decodes with header values sharing the object's memory.
    c.bench_function("meta_decode_shared_hit_path", |b| {
        b.iter(|| StoredMeta::decode_shared(black_box(&meta)))
    });
    c.bench_function("meta_decode_copying", |b| {
        b.iter(|| StoredMeta::decode(black_box(&meta)))
    });
    c.bench_function("object_encode_1k", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(object.encoded_len());
            object.encode_to(&mut out).map(|_| out.len())
        })
    });
    let mut encoded = Vec::new();
    let _ = object.encode_to(&mut encoded);
    c.bench_function("object_decode_verify_1k", |b| {
        b.iter(|| StoredObject::decode_from(&mut black_box(&encoded[..])))
    });
}

criterion_group!(rfc, benches);
criterion_main!(rfc);
