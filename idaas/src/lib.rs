//! The `idaas` library half: what the `idaas` commands share with the end-to-end tests —
//! the data-owner client ([`owner`]), the demo backends ([`demo_backend`]) and the whole
//! quickstart topology started in one process ([`stack`]) and the data owner's local wallet
//! ([`wallet`]).
#![warn(missing_docs)]

pub mod browser;
pub mod demo_backend;
pub mod owner;
pub mod stack;
pub mod wallet;
