//! Trace and span ids (W3C Trace Context level 1 §3.2.2.3, §3.2.2.4): random,
//! never all zeros. Drawn from a per-thread generator seeded once from the
//! system's secure random source, so an id costs a few arithmetic
//! operations and no system call.

use crate::random::next_u64;

/// A 16-byte trace id; never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceId(pub u128);

/// An 8-byte span id; never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanId(pub u64);

impl TraceId {
    /// A fresh random trace id.
    pub fn random() -> TraceId {
        loop {
            let id = (u128::from(next_u64()) << 64) | u128::from(next_u64());
            if id != 0 {
                return TraceId(id);
            }
        }
    }

    /// The id's bytes, most significant first (as OTLP and `traceparent` carry them).
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The low 8 bytes, from which the sampling decision is made (as the
    /// OpenTelemetry `TraceIdRatioBased` sampler does).
    pub fn low(self) -> u64 {
        self.0 as u64
    }
}

impl SpanId {
    /// A fresh random span id.
    pub fn random() -> SpanId {
        loop {
            let id = next_u64();
            if id != 0 {
                return SpanId(id);
            }
        }
    }

    /// The id's bytes, most significant first.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_nonzero_and_distinct() {
        let a: Vec<u128> = (0..1000).map(|_| TraceId::random().0).collect();
        let mut sorted = a.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), a.len());
        assert!(a.iter().all(|id| *id != 0));
        assert_eq!(TraceId(1).to_bytes()[15], 1);
        assert_eq!(SpanId(0x0102).to_bytes(), [0, 0, 0, 0, 0, 0, 1, 2]);
    }
}
