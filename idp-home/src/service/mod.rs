//! The home IdP's logic without HTTP (STYLE.md §7.2): accounts and sign-in, password hashing,
//! API tokens and upload tokens, the PII vault and groups. Each function takes the
//! [`crate::AppState`] and, where time matters, `now` (from the state's clock); the handlers in
//! [`crate::http`] and [`crate::http::sso`] only extract, call these and map the errors.
//!
//! Dependencies run one way: `groups → accounts → {passwords, api_tokens}`,
//! `upload_tokens → {accounts, api_tokens, mfa}`; `vault` stands alone; none of them imports
//! `crate::http`.

pub mod access;
pub mod accounts;
pub mod api_tokens;
pub mod consent;
pub mod devices;
pub mod disclosure_view;
pub mod groups;
pub mod hashing;
pub mod mfa;
pub mod passkeys;
pub mod password_change;
pub mod passwords;
pub mod pii_fetch;
pub mod upload_tokens;
pub mod vault;
