//! The quickstart's admin tokens (issue 16, item 7): each IdP gets one, so a newcomer can
//! register their own SAML SP and OAuth client against the running quickstart. Taken from the
//! environment variable the IdP's configuration path honours (`IDAAS_HOME_ADMIN_TOKEN`,
//! `IDAAS_VISITOR_ADMIN_TOKEN`) when set; otherwise read from `DIR/<idp>.admin-token`, or
//! created there (random, 0600) on the first run.

use std::path::{Path, PathBuf};

use service_kit::secret::Secret;

use super::StackError;

/// One IdP's admin token and where it is kept.
pub struct AdminToken {
    /// The token.
    pub token: Secret,
    /// The file it is in, or `None` when it came from the environment.
    pub file: Option<PathBuf>,
}

/// The admin token of the IdP named `idp` (`home`, `visitor`), from `env`, or the file
/// `DIR/<idp>.admin-token`, or a new one written there.
pub fn admin_token(dir: &Path, idp: &str, env: &str) -> Result<AdminToken, StackError> {
    let min = idp_home::config::MIN_ADMIN_TOKEN_LEN;
    if let Some(t) = std::env::var(env).ok().filter(|t| !t.is_empty()) {
        service_kit::config::check_secret(env, &t, min).map_err(|e| StackError(e.to_string()))?;
        return Ok(AdminToken { token: Secret::new(t), file: None });
    }
    let path = dir.join(format!("{idp}.admin-token"));
    if let Ok(text) = std::fs::read_to_string(&path) {
        let t = text.trim();
        if service_kit::config::check_secret("admin token", t, min).is_ok() {
            return Ok(AdminToken { token: Secret::new(t), file: Some(path) });
        }
    }
    // 32 random bytes, unpadded base64url: 43 characters.
    let mut bytes = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    let token = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    service_kit::files::write_private(&path, token.as_bytes(), 0o600)
        .map_err(|e| StackError(format!("{}: {e}", path.display())))?;
    Ok(AdminToken { token: Secret::new(token), file: Some(path) })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_token_is_created_once_then_reused_and_a_bad_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let env = "IDAAS_TEST_UNSET_ADMIN_TOKEN";
        let a = admin_token(dir.path(), "home", env).unwrap();
        let path = a.file.clone().unwrap();
        assert_eq!(path, dir.path().join("home.admin-token"));
        assert_eq!(a.token.expose().len(), 43);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(admin_token(dir.path(), "home", env).unwrap().token.expose(), a.token.expose());
        std::fs::write(&path, "short").unwrap();
        let c = admin_token(dir.path(), "home", env).unwrap();
        assert_ne!(c.token.expose(), "short");
        assert_eq!(c.token.expose().len(), 43);
    }
}
