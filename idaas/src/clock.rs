//! The command line's only reading of the wall clock.

/// Today as days since 1970-01-01 (UTC).
#[allow(clippy::disallowed_methods)] // the CLI's one real clock; services take a `Clock`
pub fn today_days() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
}
