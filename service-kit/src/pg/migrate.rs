//! Versioned schema migrations: each service keeps its tables in a schema of its own
//! (`idaas_home`, `idaas_visitor`), with a one-row table `<schema>.schema_version`.
//! [`migrate`] applies the migrations the database has not seen yet, in one transaction
//! under an advisory lock (several instances starting at once apply them once), and refuses
//! a database whose version is newer than this build knows, like the sled stores'
//! `meta/schema` check.

use super::{PgError, PgPool};

/// The name of the version table inside each service's schema.
pub const SCHEMA_VERSION_TABLE: &str = "schema_version";

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The database failed.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// The schema name is not a plain identifier (a bug in the caller).
    #[error("schema names are lower-case letters, digits and _")]
    BadSchemaName,
    /// The schema was written by a newer build (version `found`; this build knows `known`).
    #[error(
        "database schema {schema} is at version {found}, this build knows versions up to {known}: \
         run a newer idaas, or restore a backup taken before the upgrade"
    )]
    Newer {
        /// The schema.
        schema: String,
        /// The version in the database.
        found: i32,
        /// The newest version this build knows.
        known: i32,
    },
}

/// Brings `schema` up to `migrations.len()` (migration `i` takes it from version `i` to
/// `i + 1`; each is SQL that names its tables as `schema.table`, or as `{schema}.table` when
/// the schema's name is only known at run time — the web agent's `idaas_agent_<entity>`),
/// creating the schema if needed. Returns the version now in force. `schema` must be a plain
/// identifier ([`is_schema_name`]).
pub fn migrate(pool: &PgPool, schema: &str, migrations: &[&str]) -> Result<i32, MigrateError> {
    if !is_schema_name(schema) {
        return Err(MigrateError::BadSchemaName);
    }
    let known = i32::try_from(migrations.len()).unwrap_or(i32::MAX);
    let migrations: Vec<String> = migrations.iter().map(|m| m.replace("{schema}", schema)).collect();
    let schema = schema.to_owned();
    let schema2 = schema.clone();
    let outcome = pool.run(move |mut conn| async move {
        let tx = conn.transaction().await?;
        // One instance at a time; released at commit or rollback.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&schema.as_str()]).await?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.{SCHEMA_VERSION_TABLE} (
                 singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
                 version INTEGER NOT NULL
             );"
        ))
        .await?;
        let found: i32 =
            match tx.query_opt(&format!("SELECT version FROM {schema}.{SCHEMA_VERSION_TABLE}"), &[]).await? {
                Some(row) => row.try_get(0)?,
                None => 0,
            };
        if found > known {
            return Ok(Err(found));
        }
        let from = usize::try_from(found).unwrap_or(0);
        for sql in migrations.iter().skip(from) {
            tx.batch_execute(sql).await?;
        }
        tx.execute(
            &format!(
                "INSERT INTO {schema}.{SCHEMA_VERSION_TABLE} (singleton, version) VALUES (TRUE, $1)
                 ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version"
            ),
            &[&known],
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(known))
    })?;
    outcome.map_err(|found| MigrateError::Newer { schema: schema2, found, known })
}

/// Whether `name` can be spliced into SQL as a schema name: 1 to 63 lower-case ASCII letters,
/// digits and `_`, not starting with a digit.
pub fn is_schema_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The version of `schema` in the database (0 when it has none yet).
pub fn schema_version(pool: &PgPool, schema: &'static str) -> Result<i32, PgError> {
    pool.run(move |conn| async move {
        let exists = conn
            .query_opt(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
                &[&schema, &SCHEMA_VERSION_TABLE],
            )
            .await?
            .is_some();
        if !exists {
            return Ok(0);
        }
        let row =
            conn.query_opt(&format!("SELECT version FROM {schema}.{SCHEMA_VERSION_TABLE}"), &[]).await?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        })
    })
}
