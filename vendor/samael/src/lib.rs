// idaas: vendored third-party code (vendor/README.md); its warnings are upstream's.
#![allow(warnings)]

pub mod attribute;
pub mod crypto;
pub mod idp;
pub mod key_info;
pub mod metadata;
pub mod schema;
pub mod service_provider;
pub mod signature;

pub mod traits;

#[macro_use]
extern crate derive_builder;
