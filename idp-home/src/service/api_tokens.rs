//! Data-owner API bearer tokens, and the shape of every random token this IdP issues (API
//! tokens and e-mail verification links). Tokens are stored only as their SHA-256
//! ([`token_hash`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};

use crate::model::User;
use crate::state::AppState;
use crate::store::{token_hash, ApiToken, StoreError};

/// A new random token: 256 bits, unpadded base64url (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `token` has the shape of a [`random_token`]: 43 characters of unpadded base64url.
/// Anything else is refused before the store is asked.
pub fn token_shape_ok(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A freshly issued data-owner API token: the wire type the CLI reads
/// ([`federation::api::ApiToken`]).
pub use federation::api::ApiToken as IssuedToken;

/// Issues an API bearer token for `uid` (stored as its SHA-256), purging expired tokens.
pub fn issue_api_token(state: &AppState, uid: &str, now: i64) -> Result<IssuedToken, StoreError> {
    if let Err(e) = state.store.purge_expired(now) {
        tracing::warn!(error = %e, "purging expired tokens failed");
    }
    let token = random_token();
    let lifetime = u64::from(state.config.api_token_lifetime_minutes) * 60;
    let expires = now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX));
    state.store.put_api_token(&token_hash(&token), &ApiToken { uid: uid.to_owned(), expires })?;
    Ok(IssuedToken { access_token: token, token_type: "Bearer".into(), expires_in: lifetime })
}

/// The verified user a bearer token belongs to, if the token is known and not expired.
pub fn user_for_api_token(state: &AppState, token: &str, now: i64) -> Result<Option<User>, StoreError> {
    if !token_shape_ok(token) {
        return Ok(None);
    }
    let Some(t) = state.store.get_api_token(&token_hash(token))? else {
        return Ok(None);
    };
    if t.expires <= now {
        return Ok(None);
    }
    Ok(state.store.get_user(&t.uid)?.filter(|u| u.verified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_have_the_checked_shape() {
        let t = random_token();
        assert!(token_shape_ok(&t), "{t}");
        assert_ne!(t, random_token());
        for bad in ["", "short", &"a".repeat(44), &format!("{}=", "a".repeat(42)), &"a/".repeat(21)] {
            assert!(!token_shape_ok(bad), "{bad}");
        }
    }
}
