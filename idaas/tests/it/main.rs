//! idaas's integration tests, one binary (linking each file separately cost a link of the whole
//! crate per file): `cargo nextest run --workspace -E 'package(idaas) and binary(it)'`. The CLI
//! tests run the `idaas` binary itself (`CARGO_BIN_EXE_idaas`).

mod admin_tokens;
mod approval;
mod backup;
mod browser;
mod browser_kit;
mod browser_wallet;
mod cli;
mod e2e;
mod interop;
mod key_rollover;
mod multi;
mod operations;
mod people;
mod postgres;
mod propagation;
mod sample_configs;
mod services_cli;
mod slo;
mod small_assertions;
mod tls;
mod wallet;
