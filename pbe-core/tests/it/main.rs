//! pbe-core's integration tests, one binary (linking each file separately cost a link of the
//! whole crate per file): `cargo nextest run --workspace -E 'package(pbe-core) and binary(it)'`.

mod blst_cross;
mod hostile_points;
mod scheme;
