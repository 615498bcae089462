//! The home IdP's integration tests, one binary (one link instead of three): the JSON APIs
//! in-process ([`api`]), SAML SSO over a real listener ([`sso`]), and fetching visitor
//! authority keys at start-up ([`authority_url`]). Run one module with
//! `cargo nextest run --workspace -E 'package(idp-home) and binary(it) and test(/^sso::/)'`.

mod access;
mod api;
mod authn_flags;
mod authority_url;
mod consent;
mod devices;
mod harness;
mod listener;
mod mfa;
mod pages;
mod passkeys;
mod shared;
mod slo;
mod smtp;
mod sso;
mod store_suite;
mod upload_tokens;
