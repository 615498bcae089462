//! Time comes from an injectable clock (DESIGN.md §6), so tests can move it.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time, in Unix seconds (UTC).
pub trait Clock: Send + Sync + 'static {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now(&self) -> i64;

    /// Days since 1970-01-01 (UTC), as used by the segment tree.
    fn today(&self) -> u64 {
        u64::try_from(self.now().div_euclid(86_400)).unwrap_or(0)
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one real clock of the services
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that stands still until moved: for tests and `quickstart --now`.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `unix_seconds`.
    pub fn new(unix_seconds: i64) -> Self {
        ManualClock(AtomicI64::new(unix_seconds))
    }

    /// Sets the time.
    pub fn set(&self, unix_seconds: i64) {
        self.0.store(unix_seconds, Ordering::SeqCst);
    }

    /// Moves the time forward (or back, with a negative value).
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_and_counts_days() {
        let c = ManualClock::new(20_415 * 86_400 + 5);
        assert_eq!(c.today(), 20_415);
        c.advance(15 * 86_400);
        assert_eq!(c.today(), 20_430);
    }
}

/// The system clock shifted by a fixed number of seconds: `idaas quickstart --now DATE`
/// pretends today is another date (to show the expiry of a disclosure policy) while time still
/// runs.
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    offset: i64,
}

impl OffsetClock {
    /// A clock `offset` seconds ahead of (or, negative, behind) the system clock.
    pub fn new(offset: i64) -> Self {
        OffsetClock { offset }
    }

    /// A clock on which today is `day` (days since 1970-01-01), at the current time of day.
    pub fn on_day(day: u64) -> Self {
        let now = SystemClock.now();
        let today = now.div_euclid(86_400);
        OffsetClock { offset: (day as i64 - today) * 86_400 }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> i64 {
        SystemClock.now().saturating_add(self.offset)
    }
}
