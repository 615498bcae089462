//! The command line's only reading of the wall clock.

/// Today as days since 1970-01-01 (UTC); an error when the system clock reads a time before
/// 1970 (it used to read as day 0, 1970-01-01).
#[allow(clippy::disallowed_methods)] // the CLI's one real clock; services take a `Clock`
pub fn today_days() -> Result<u64, federation::clock::BeforeEpoch> {
    federation::clock::day_of(federation::clock::unix_seconds(std::time::SystemTime::now()))
}
