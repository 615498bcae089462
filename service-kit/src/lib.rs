//! # service-kit — what the idaas services share
//!
//! The home IdP, the visitor IdP, the web agent and the `idaas` binary share their plumbing
//! here, so each is built one way: serving with time bounds on every connection ([`serve`]),
//! the layer stack ([`layers`]), problem documents on the response side ([`problem`]),
//! HTML escaping and the page shell ([`html`]), configuration helpers ([`config`]), secrets ([`secret`]), throttling ([`throttle`]), log
//! redaction ([`redact`]), clocks ([`clock`]) and private files ([`files`]).
//!
//! pbe-core and federation never depend on this crate (they hold what crosses between
//! parties); what federation uses itself (the private-file writer of its authority keys) stays
//! there (with the secret string its wire types carry) and is re-exported here, so the services reach everything through one name.
#![warn(missing_docs)]

pub mod backup;
pub mod clock;
pub mod config;
pub mod health;
pub mod html;
pub mod layers;
pub mod metrics;
pub mod pg;
pub mod probe;
pub mod problem;
pub mod redact;
pub mod serve;
pub mod store;
pub mod throttle;
pub mod tls;

/// The secret string: defined in federation, whose wire types (`federation::api`) carry
/// passwords, and re-exported here so services reach all their plumbing through one name.
pub mod secret {
    pub use federation::secret::Secret;
}

/// Private files: atomic, fsynced, 0600/0700 (federation writes its authority keys with it).
pub mod files {
    pub use federation::files::{ensure_private_dir, write_private};
}

pub use clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use secret::Secret;
pub use serve::{serve, serve_configured, serve_tls, ServeOptions};
