//! `idaas home keys status|rotate|activate`: the SAML signing-key rollover of a running home
//! IdP, through its admin API (`/admin/keys/signing…`; docs/operations.md#key-rollover).

use federation::api::Problem;

use crate::cli::{AdminArgs, KeysCommand};
use crate::error::CliError;
use crate::sps::{admin_token, http_client};

/// Runs one `idaas home keys` command; prints the IdP's JSON answer.
pub fn run(cmd: KeysCommand) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input(e.to_string()))?;
    let (a, path, post) = match &cmd {
        KeysCommand::Status(a) => (a, "", false),
        KeysCommand::Rotate(a) => (a, "/rotate", true),
        KeysCommand::Activate(a) => (a, "/activate", true),
    };
    runtime.block_on(call(a, path, post))
}

async fn call(a: &AdminArgs, path: &str, post: bool) -> Result<(), CliError> {
    let token = admin_token(a.admin_token_file.as_deref())?;
    let client = http_client()?;
    let base = a.home.trim_end_matches('/');
    let url = format!("{base}/admin/keys/signing{path}");
    let request = if post { client.post(&url) } else { client.get(&url) };
    let resp =
        request.bearer_auth(&token).send().await.map_err(|e| CliError::input(format!("{base}: {e}")))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let detail = serde_json::from_str::<Problem>(&body)
            .map(|p| p.detail)
            .unwrap_or_else(|_| body.chars().take(300).collect());
        return Err(CliError::input(format!("the home IdP refused: {status}: {detail}")));
    }
    println!("{body}");
    Ok(())
}
