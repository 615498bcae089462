//! bob as the quickstart needs him, resumable: each step checks what is really there (the
//! password file, the user record, the vault) and redoes only what is missing, so a crash at
//! any moment of the first run is repaired by the next (issue 15, defect 5).

use std::path::Path;

use pbe_core::disclosure::table1;

use super::{random_secret, Stack, StackError, GROUP, USER};
use crate::owner::{HomeClient, PolicySource};

/// bob as the quickstart needs him, checked against what is really there: the password file
/// (written first, atomically, so a crash never leaves a user whose password nobody knows),
/// then the user in the store — present, verified, in `customers`, and with a hash of that
/// password. Whatever is missing or different is (re)written. Returns the password and whether
/// anything was written.
pub(super) fn ensure_bob(home: &idp_home::AppState, dir: &Path) -> Result<(String, bool), StackError> {
    use idp_home::service::passwords::{hash_password, verify_password, Password};
    let path = dir.join("bob.password");
    let (password, mut wrote) = match std::fs::read_to_string(&path) {
        Ok(p) if Password::new(p.trim()).length_ok() => (p.trim().to_owned(), false),
        Ok(_) | Err(_) => {
            let p = random_secret();
            ctx!(service_kit::files::write_private(&path, p.as_bytes(), 0o600), "bob.password")?;
            (p, true)
        }
    };
    let pw = Password::new(password.clone());
    let existing = ctx!(home.store.get_user(USER), "read bob")?;
    let ok = existing.as_ref().is_some_and(|u| {
        u.verified
            && u.groups.iter().any(|g| g == GROUP)
            && verify_password(&u.password_hash, &pw).unwrap_or(false)
    });
    if !ok {
        let hash = hash_password(&pw).map_err(|e| StackError(format!("password hash: {e}")))?;
        let user = idp_home::model::User {
            uid: USER.into(),
            email: "bob@example.org".into(),
            password_hash: hash,
            verified: true,
            groups: vec![GROUP.into()],
            created: home.clock.now(),
            security: Default::default(),
            grants: Vec::new(),
        };
        ctx!(home.store.put_user(&user), "store bob")?;
        wrote = true;
    }
    Ok((password, wrote))
}

/// Table 1, encrypted by the data-owner client and uploaded over HTTP: only the attributes
/// the vault does not hold yet. Returns how many were uploaded.
pub(super) async fn store_table1(stack: &Stack, today: u64) -> Result<usize, StackError> {
    let client = ctx!(HomeClient::trusting(&stack.instances.home, stack.ca_file.as_deref()), "HTTP client")?;
    // An upload token reads too: one fresh sign-in for the list and the uploads.
    let token = ctx!(client.upload_token(USER, &stack.password, None).await, "bob's upload token")?.token;
    let held: std::collections::BTreeSet<String> =
        ctx!(client.list(&token).await, "bob's PII")?.into_iter().map(|s| s.attribute).collect();
    let mut uploaded = 0;
    for (name, value, disclosure) in table1() {
        if held.contains(name) {
            continue;
        }
        let (ct, _) = ctx!(
            client.encrypt(&PolicySource::Disclosure(Box::new(disclosure), today), value.as_bytes()).await,
            name
        )?;
        ctx!(client.put(&token, name, &ct).await, name)?;
        uploaded += 1;
    }
    Ok(uploaded)
}
