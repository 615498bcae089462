//! `idaas`: one binary for every role. Thin: parses arguments and calls the crates.

use std::process::ExitCode;

use clap::Parser;

mod agent_keys;
mod backup;
mod cli;
mod error;
mod files;
mod home_keys;
mod migrate;
mod pbe;
mod pii;
mod quickstart;
mod restore;
mod serve;
mod sps;
mod wallet_cmd;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let _ = serve::LOG_FORMAT.set(args.log_format);
    match args.command {
        cli::Command::Pbe(cmd) => match pbe::run(cmd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("idaas: {e}");
                ExitCode::from(e.exit_code())
            }
        },
        cli::Command::Home(cli::HomeArgs { admin: Some(cli::HomeAdmin::Keys(cmd)), .. }) => {
            match home_keys::run(cmd) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("idaas: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
        cli::Command::Home(cli::HomeArgs { admin: Some(cli::HomeAdmin::Sps(cmd)), .. }) => {
            match sps::run(cmd) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("idaas: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
        cli::Command::Home(cli::HomeArgs { config: Some(config), check, admin: None }) => {
            report(serve::home(cli::ServeArgs { config, check }))
        }
        cli::Command::Home(_) => {
            eprintln!("idaas: give --config FILE to serve, or a subcommand (idaas home --help)");
            ExitCode::from(2)
        }
        cli::Command::Visitor(args) => report(serve::visitor(args)),
        cli::Command::Agent(cli::AgentArgs { keys: Some(cli::AgentAdmin::Keys(cmd)), .. }) => {
            exit(agent_keys::run(cmd))
        }
        cli::Command::Agent(cli::AgentArgs { config: Some(config), check, keys: None }) => {
            report(serve::agent(cli::ServeArgs { config, check }))
        }
        cli::Command::Agent(_) => {
            eprintln!("idaas: give --config FILE to serve, or a subcommand (idaas agent --help)");
            ExitCode::from(2)
        }
        cli::Command::Quickstart(args) => report(quickstart::run(args)),
        cli::Command::DemoBackend(args) => report(quickstart::demo_backend(args)),
        cli::Command::Migrate(args) => match migrate::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("idaas: {e}");
                ExitCode::from(e.exit_code())
            }
        },
        cli::Command::Backup(args) => exit(backup::run(&args.data_dir, &args.out)),
        cli::Command::Restore(args) => exit(restore::run(&args.input, &args.data_dir)),
        cli::Command::Wallet(args) => exit(wallet_cmd::run(args)),
        cli::Command::Pii(cmd) => match pii::run(cmd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("idaas: {e}");
                ExitCode::from(e.exit_code())
            }
        },
    }
}

/// Prints a command's failure and turns it into the exit code.
fn exit(result: Result<(), error::CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idaas: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Prints a service's start-up or run-time failure and turns it into the exit code.
fn report(result: Result<(), serve::ServeError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idaas: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
