//! `idaas agent keys status|rotate|activate --config agent.toml`: the rollover of a web
//! agent's HPKE key (`web_agent::seal_keys`; docs/operations.md#key-rollover). The commands
//! change the key files in the agent's `data_dir`; running agents sharing it pick the change
//! up within `web_agent::seal_keys::RELOAD_INTERVAL`.

use web_agent::seal_keys::{self, SealKeys};

use crate::cli::AgentKeysCommand;
use crate::error::CliError;

/// Runs one `idaas agent keys` command; prints JSON.
pub fn run(cmd: AgentKeysCommand) -> Result<(), CliError> {
    let (AgentKeysCommand::Status(a) | AgentKeysCommand::Rotate(a) | AgentKeysCommand::Activate(a)) = &cmd;
    let config = web_agent::Config::load(&a.config)
        .map_err(|e| CliError::input(format!("{}: {e}", a.config.display())))?;
    let (dir, suite) = (&config.data_dir, config.seal_suite());
    let failed = |e: seal_keys::RolloverError| CliError::failed(e.to_string());
    let note = match cmd {
        AgentKeysCommand::Status(_) => None,
        AgentKeysCommand::Rotate(_) => {
            let next = seal_keys::rotate(dir, suite).map_err(failed)?;
            Some(format!(
                "register {} as the SP's pbe.tat_public_key at the home IdP and as the client's \
                 pat_public_key at the visitor IdP, then run `idaas agent keys activate`",
                next.public_text()
            ))
        }
        AgentKeysCommand::Activate(_) => {
            seal_keys::activate(dir, suite).map_err(failed)?;
            Some("the next key is current; the old key is retired and opens nothing any more".to_owned())
        }
    };
    let keys = SealKeys::load(dir, suite).map_err(|e| CliError::failed(e.to_string()))?;
    let status = serde_json::json!({
        "algorithm": suite.kem_name(),
        "current": keys.current().public_text(),
        "next": keys.next().map(|k| k.public_text()),
        "note": note,
    });
    println!("{status:#}");
    Ok(())
}
