//! The one place that reads the system clock. Everything else receives `now`.

use std::time::{Instant, SystemTime};

/// Wall-clock time, for RFC 9111 age and freshness.
#[allow(clippy::disallowed_methods)]
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Monotonic time, for timeouts and durations.
#[allow(clippy::disallowed_methods)]
pub fn instant() -> Instant {
    Instant::now()
}

/// The tokio timer's monotonic time, for deadlines handed to tokio timers.
pub fn timer_now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// Wall-clock nanoseconds since the Unix epoch (0 before it), for span
/// timestamps.
pub fn unix_nanos() -> u64 {
    now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
