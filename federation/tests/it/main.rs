//! federation's integration tests, one binary (linking each file separately cost a link of the
//! whole crate per file): `cargo nextest run --workspace -E 'package(federation) and binary(it)'`.

mod claims;
mod fuzz_seeds;
mod signing;
mod sp_metadata;
mod verify;
