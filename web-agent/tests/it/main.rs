//! The web agent's integration tests, one binary (one link): real HTTP servers on
//! ephemeral ports, in-process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

mod common;
mod edge;
mod listener;
mod pages;
mod reload;
mod sensitive;
mod shared;
mod timeout;
