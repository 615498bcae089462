//! service-kit's integration tests: one binary (issue 13), a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed unwrap in a test is a failed test

mod pg;
mod serve;
mod tls;
