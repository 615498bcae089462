//! `idaas migrate`: applies a store's schema migrations (the services do so at start-up too)
//! and prints the version in force; refuses a schema newer than this build.

use service_kit::pg::StoreUrl;

use crate::cli::{MigrateArgs, MigrateService};
use crate::error::CliError;

/// Runs the command.
pub fn run(a: MigrateArgs) -> Result<(), CliError> {
    let fail = |e: &dyn std::fmt::Display| CliError::not_satisfied(format!("{}: {e}", a.store_url));
    match &a.store_url {
        StoreUrl::Postgres(url) => {
            if matches!(a.service, MigrateService::Home | MigrateService::All) {
                let v = idp_home::store::pg::PgStore::migrate(url).map_err(|e| fail(&e))?;
                println!("{}: schema version {v}", idp_home::store::pg::SCHEMA);
            }
            if matches!(a.service, MigrateService::Visitor | MigrateService::All) {
                let v = idp_visitor::store::pg::PgStore::migrate(url).map_err(|e| fail(&e))?;
                println!("{}: schema version {v}", idp_visitor::store::pg::SCHEMA);
            }
            if a.service == MigrateService::Agent && a.agents.is_empty() {
                return Err(CliError::input("--service agent needs --agent ENTITY_ID"));
            }
            if matches!(a.service, MigrateService::Agent | MigrateService::All) {
                for entity_id in &a.agents {
                    let (schema, v) =
                        web_agent::shared::migrate_agent(url, entity_id).map_err(|e| fail(&e))?;
                    println!("{schema}: schema version {v}");
                }
            }
        }
        // A sled database belongs to one service: opening it writes or checks its version.
        StoreUrl::Sled(path) => match a.service {
            MigrateService::Home => {
                idp_home::store::SledStore::open(path).map_err(|e| fail(&e))?;
                println!("home sled database: schema version {}", idp_home::store::SCHEMA_VERSION);
            }
            MigrateService::Visitor => {
                idp_visitor::store::SledStore::open(path).map_err(|e| fail(&e))?;
                println!("visitor sled database: schema version {}", idp_visitor::store::SCHEMA_VERSION);
            }
            MigrateService::All => {
                return Err(CliError::input(
                    "a sled database belongs to one service: give --service home|visitor",
                ))
            }
            MigrateService::Agent => {
                return Err(CliError::input(
                    "a web agent keeps no sled database: its store_url is PostgreSQL",
                ))
            }
        },
    }
    Ok(())
}
