//! Time comes from an injectable clock (DESIGN.md §6), so tests can move it.

use std::sync::atomic::{AtomicI64, Ordering};

/// The clock reads a time before 1970-01-01, where the segment tree has no day number.
///
/// Refused rather than clamped: clamping to day 0 would silently issue Time Access Tokens
/// for 1970-01-01, which open nothing dated today and hide the misconfigured clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the clock reads {unix_seconds} s (before 1970-01-01 UTC): no day number; fix the system clock")]
pub struct BeforeEpoch {
    /// What the clock read, in Unix seconds (negative).
    pub unix_seconds: i64,
}

/// Days since 1970-01-01 (UTC) of `unix_seconds`; an error before 1970.
pub fn day_of(unix_seconds: i64) -> Result<u64, BeforeEpoch> {
    u64::try_from(unix_seconds.div_euclid(86_400)).map_err(|_| BeforeEpoch { unix_seconds })
}

/// A source of the current time, in Unix seconds (UTC).
pub trait Clock: Send + Sync + 'static {
    /// Seconds since 1970-01-01T00:00:00Z (negative before).
    fn now(&self) -> i64;

    /// Days since 1970-01-01 (UTC), as used by the segment tree. Fails before 1970.
    fn today(&self) -> Result<u64, BeforeEpoch> {
        day_of(self.now())
    }
}

/// Seconds since the Unix epoch of a system time, negative before it (saturating).
pub fn unix_seconds(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // Before 1970: keep the sign, so `today` can refuse it instead of reading day 0.
        Err(e) => {
            let before = e.duration();
            let secs = before.as_secs() + u64::from(before.subsec_nanos() > 0);
            i64::try_from(secs).map(|s| -s).unwrap_or(i64::MIN)
        }
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one real clock of the services
    fn now(&self) -> i64 {
        unix_seconds(std::time::SystemTime::now())
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
        assert_eq!(c.today(), Ok(20_415));
        c.advance(15 * 86_400);
        assert_eq!(c.today(), Ok(20_430));
    }

    /// Before the fix, any time before 1970 read as day 0 (1970-01-01) and TATs were issued
    /// for it.
    #[test]
    fn a_clock_before_1970_has_no_day() {
        let c = ManualClock::new(0);
        assert_eq!(c.today(), Ok(0));
        c.set(-1);
        assert_eq!(c.today(), Err(BeforeEpoch { unix_seconds: -1 }));
        c.set(-86_400 * 365);
        assert!(c.today().unwrap_err().to_string().contains("before 1970-01-01"));
        assert_eq!(day_of(86_399), Ok(0));
        assert_eq!(day_of(86_400), Ok(1));
    }

    #[test]
    fn system_times_before_the_epoch_are_negative() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(unix_seconds(UNIX_EPOCH), 0);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(90)), 90);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(90)), -90);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_millis(1)), -1);
        assert!(day_of(unix_seconds(UNIX_EPOCH - Duration::from_millis(1))).is_err());
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
