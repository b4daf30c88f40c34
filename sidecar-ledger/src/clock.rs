//! The wall clock, read in one place: Unix milliseconds UTC. Code that decides by time
//! takes `now_ms` as an argument, so tests pass their own instant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds UTC (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
