//! Failed authentications, limited per source address: after [`AuthLimits::failures`]
//! refused tokens from one peer address within [`AuthLimits::window_ms`], that address
//! is answered 429 until the window ends, without the token being looked up, so
//! guessing tokens costs the guesser time and the ledger nothing.
//!
//! * The window is fixed: it starts at an address's first failure and ends
//!   `window_ms` later; a success from the address does not end it (an attacker
//!   holding one valid token cannot reset the count of its guesses).
//! * A token this ledger accepted recently still passes a blocked address's gate (it
//!   is then checked as usual), so a neighbour that shares the data plane's address
//!   (the loopback interface, a NAT) cannot lock Envoy out by failing on purpose.
//! * Memory is bounded: at most [`AuthLimits::max_addresses`] addresses are tracked
//!   (ended windows are dropped first, then the oldest) and at most
//!   [`MAX_ACCEPTED`] accepted token hashes are remembered.
//! * The common path costs one atomic load: the table is consulted only when some
//!   address is blocked, and written only on a failure.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, RwLock};

/// How many accepted token hashes are remembered (the set is emptied when full).
pub const MAX_ACCEPTED: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthLimits {
    /// Failed authentications an address may make per window (0: no limit).
    pub failures: u32,
    pub window_ms: i64,
    /// Most addresses tracked at once.
    pub max_addresses: usize,
}

impl Default for AuthLimits {
    fn default() -> Self {
        AuthLimits {
            failures: 20,
            window_ms: 60_000,
            max_addresses: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: i64,
    count: u32,
}

#[derive(Debug, Default)]
pub struct FailedAuthLimiter {
    limits: AuthLimits,
    /// The latest end of any address's blocked window: before it, requests consult
    /// the table; after it (the usual case), nobody is blocked.
    blocked_until_ms: AtomicI64,
    windows: Mutex<HashMap<IpAddr, Window>>,
    accepted: RwLock<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FailedAuthLimiter {
    pub fn new(limits: AuthLimits) -> Self {
        FailedAuthLimiter {
            limits,
            ..Default::default()
        }
    }

    /// Whether `peer` is blocked now for a token whose SHA-256 is `token_sha256`:
    /// `Some(seconds)` until its window ends (for `Retry-After`), `None` if the request
    /// may be checked.
    pub fn blocked(&self, peer: Option<IpAddr>, token_sha256: &str, now_ms: i64) -> Option<u64> {
        if now_ms >= self.blocked_until_ms.load(Ordering::Relaxed) || self.limits.failures == 0 {
            return None;
        }
        let peer = peer?;
        let end = {
            let windows = lock(&self.windows);
            let w = windows.get(&peer)?;
            let end = w.start_ms + self.limits.window_ms;
            if w.count < self.limits.failures || now_ms >= end {
                return None;
            }
            end
        };
        let known = self
            .accepted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(token_sha256);
        (!known).then(|| ((end - now_ms) as u64).div_ceil(1000).max(1))
    }

    /// Counts a failed authentication from `peer`.
    pub fn failed(&self, peer: Option<IpAddr>, now_ms: i64) {
        let Some(peer) = peer else { return };
        if self.limits.failures == 0 {
            return;
        }
        let window_ms = self.limits.window_ms;
        let mut windows = lock(&self.windows);
        if !windows.contains_key(&peer) && windows.len() >= self.limits.max_addresses {
            windows.retain(|_, w| now_ms < w.start_ms + window_ms);
            if windows.len() >= self.limits.max_addresses {
                if let Some(oldest) = windows
                    .iter()
                    .min_by_key(|(_, w)| w.start_ms)
                    .map(|(ip, _)| *ip)
                {
                    windows.remove(&oldest);
                }
            }
        }
        let w = windows.entry(peer).or_insert(Window {
            start_ms: now_ms,
            count: 0,
        });
        if now_ms >= w.start_ms + window_ms {
            *w = Window {
                start_ms: now_ms,
                count: 0,
            };
        }
        w.count = w.count.saturating_add(1);
        if w.count >= self.limits.failures {
            self.blocked_until_ms
                .fetch_max(w.start_ms + window_ms, Ordering::Relaxed);
        }
    }

    /// Remembers a token that authenticated (by its SHA-256), so that it passes a
    /// blocked address's gate.
    pub fn accepted(&self, token_sha256: &str) {
        let known = self
            .accepted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(token_sha256);
        if known {
            return;
        }
        let mut set = self.accepted.write().unwrap_or_else(|p| p.into_inner());
        if set.len() >= MAX_ACCEPTED {
            set.clear();
        }
        set.insert(token_sha256.to_string());
    }

    /// How many addresses are tracked (for tests of the bound).
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        lock(&self.windows).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    fn limiter(failures: u32, max_addresses: usize) -> FailedAuthLimiter {
        FailedAuthLimiter::new(AuthLimits {
            failures,
            window_ms: 10_000,
            max_addresses,
        })
    }

    #[test]
    fn an_address_is_blocked_after_its_failures_until_the_window_ends() {
        let l = limiter(3, 100);
        for t in 0..2 {
            l.failed(ip(1), 1_000 + t);
            assert_eq!(l.blocked(ip(1), "guess", 1_000 + t), None);
        }
        l.failed(ip(1), 1_500);
        assert_eq!(l.blocked(ip(1), "guess", 1_500), Some(10));
        assert_eq!(l.blocked(ip(1), "guess", 10_001), Some(1));
        // Other addresses, and requests without a known peer, are not affected.
        assert_eq!(l.blocked(ip(2), "guess", 1_500), None);
        assert_eq!(l.blocked(None, "guess", 1_500), None);
        // A success does not reset the count; the window's end does.
        l.accepted("good");
        assert_eq!(l.blocked(ip(1), "another guess", 2_000), Some(9));
        assert_eq!(l.blocked(ip(1), "guess", 11_000), None);
        l.failed(ip(1), 11_000);
        assert_eq!(l.blocked(ip(1), "guess", 11_001), None, "a new window");
    }

    #[test]
    fn a_token_accepted_before_passes_a_blocked_address() {
        let l = limiter(1, 100);
        l.accepted("envoy");
        l.failed(ip(1), 0);
        assert!(l.blocked(ip(1), "guess", 1).is_some());
        assert_eq!(l.blocked(ip(1), "envoy", 1), None);
    }

    #[test]
    fn the_table_is_bounded_and_keeps_the_newest_addresses() {
        let l = limiter(2, 3);
        for last in 1..=10u8 {
            l.failed(ip(last), i64::from(last));
            assert!(l.tracked() <= 3);
        }
        l.failed(ip(10), 20);
        assert!(l.blocked(ip(10), "guess", 21).is_some());
        assert_eq!(l.blocked(ip(1), "guess", 21), None, "evicted");
    }

    #[test]
    fn zero_failures_means_no_limit() {
        let l = limiter(0, 3);
        for t in 0..50 {
            l.failed(ip(1), t);
        }
        assert_eq!(l.blocked(ip(1), "guess", 51), None);
        assert_eq!(l.tracked(), 0);
    }
}
