//! Opening a service's sled database: waiting briefly for the directory lock, and the
//! on-disk schema version every store writes to its `meta` tree and checks at every start.

/// Why the schema version check failed.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sled::Error),
    /// The stored version is not 4 bytes.
    #[error("the schema version in tree 'meta' is damaged")]
    Corrupt,
    /// The database was written by another (newer, unknown) schema version.
    #[error("database schema version {0} is not supported")]
    Unsupported(u32),
}

/// Opens the database, waiting up to a second for the directory lock. sled's flusher thread
/// releases the lock shortly *after* the last handle is dropped, so a quick restart (or a
/// previous process still exiting) would otherwise fail with "could not acquire lock".
pub fn open_db(config: &sled::Config) -> sled::Result<sled::Db> {
    let mut attempts = 0;
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if attempts < 50 && e.to_string().contains("could not acquire lock") => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Writes `current` as the schema version of a new database (and flushes it), or refuses a
/// database whose stored version is another one.
pub fn check_schema(db: &sled::Db, current: u32) -> Result<(), SchemaError> {
    let meta = db.open_tree("meta")?;
    match meta.get(b"schema")? {
        Some(v) => {
            let version =
                <[u8; 4]>::try_from(v.as_ref()).map(u32::from_be_bytes).map_err(|_| SchemaError::Corrupt)?;
            if version != current {
                return Err(SchemaError::Unsupported(version));
            }
        }
        None => {
            meta.insert(b"schema", &current.to_be_bytes())?;
            db.flush()?;
        }
    }
    Ok(())
}

/// Longest key (uid, entity ID, client ID, attribute name) a service's store accepts, in
/// bytes: far above every identifier's own limit, and within what a PostgreSQL index entry
/// holds.
pub const MAX_KEY_LEN: usize = 2048;

/// Whether every backend (sled, PostgreSQL) can hold `key`: at most [`MAX_KEY_LEN`] bytes and
/// no NUL (PostgreSQL text cannot hold it; the sled PII keys use it as a separator).
pub fn is_storable_key(key: &str) -> bool {
    key.len() <= MAX_KEY_LEN && !key.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_gets_the_version_and_another_version_is_refused() {
        let db = open_db(&sled::Config::new().temporary(true)).unwrap();
        check_schema(&db, 1).unwrap();
        check_schema(&db, 1).unwrap();
        assert!(matches!(check_schema(&db, 2), Err(SchemaError::Unsupported(1))));
        db.open_tree("meta").unwrap().insert(b"schema", b"xy".as_slice()).unwrap();
        assert!(matches!(check_schema(&db, 1), Err(SchemaError::Corrupt)));
    }
}
