//! The visitor IdP's integration tests, one binary (one link instead of three): the OAuth
//! endpoints over a real listener ([`api`]), edge hardening ([`edge`]), and fetching trusted
//! IdP metadata at start-up ([`metadata_url`]).

mod api;
mod edge;
mod listener;
mod metadata_url;
mod store_suite;
