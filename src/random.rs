//! Random 64-bit numbers for ids that must be unique and unpredictable
//! enough not to collide (trace and span ids, a fleet member's incarnation,
//! request ids), not for secrets. A per-thread SplitMix64 generator seeded
//! once, so a number costs a few arithmetic operations and no system call.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// A per-thread seed: the standard library's per-process random hash keys
/// (from the OS), a per-call counter they add, and the clock. (aws-lc's
/// generator costs hundreds of millions of instructions to initialise.)
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::clock::unix_nanos());
    h.finish()
}

/// SplitMix64: a fast, well-distributed generator (not for secrets: trace
/// ids only need to be unique and unpredictable enough to not collide).
pub fn next_u64() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}
