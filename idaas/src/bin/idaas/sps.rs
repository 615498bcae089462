//! `idaas home sps import FILE|URL`: registers a SAML SP at a running home IdP from the SP's
//! metadata. The document is read here first (the same mapping the IdP applies), so a bad
//! document is reported before anything is sent; the IdP validates it again.

use std::time::Duration;

use federation::api::Problem;
use idp_home::config::ADMIN_TOKEN_ENV;
use idp_home::saml::sp_import::sp_config_from_metadata;

use crate::cli::{SpsCommand, SpsImportArgs};
use crate::error::CliError;

/// Largest metadata document read (the IdP's own bound on SAML documents).
const MAX_METADATA_BYTES: usize = federation::verify::DEFAULT_MAX_XML_BYTES;
/// The content type the admin API maps through SP metadata import.
const METADATA_TYPE: &str = "application/samlmetadata+xml";

/// Runs one `idaas home sps` command.
pub fn run(cmd: SpsCommand) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input(e.to_string()))?;
    runtime.block_on(async move {
        match cmd {
            SpsCommand::Import(a) => import(a).await,
        }
    })
}

/// The admin token from `--admin-token-file`, else the environment.
pub(crate) fn admin_token(file: Option<&std::path::Path>) -> Result<String, CliError> {
    let token = match file {
        Some(f) => {
            std::fs::read_to_string(f).map_err(|e| CliError::input(format!("{}: {e}", f.display())))?
        }
        None => std::env::var(ADMIN_TOKEN_ENV)
            .map_err(|_| CliError::input(format!("give --admin-token-file or set {ADMIN_TOKEN_ENV}")))?,
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(CliError::input("the admin token is empty"));
    }
    Ok(token)
}

pub(crate) fn http_client() -> Result<reqwest::Client, CliError> {
    service_kit::tls::client_builder(None)
        .map_err(|e| CliError::input(e.to_string()))?
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| CliError::input(e.to_string()))
}

/// The metadata from a file or a URL, at most [`MAX_METADATA_BYTES`].
async fn read_source(client: &reqwest::Client, source: &str) -> Result<String, CliError> {
    let bytes = if source.starts_with("http://") || source.starts_with("https://") {
        let mut resp =
            client.get(source).send().await.map_err(|e| CliError::input(format!("{source}: {e}")))?;
        if !resp.status().is_success() {
            return Err(CliError::input(format!("{source}: HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| CliError::input(format!("{source}: {e}")))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_METADATA_BYTES {
                return Err(CliError::input(format!("{source}: larger than {MAX_METADATA_BYTES} bytes")));
            }
        }
        body
    } else {
        let meta = std::fs::metadata(source).map_err(|e| CliError::input(format!("{source}: {e}")))?;
        if meta.len() > MAX_METADATA_BYTES as u64 {
            return Err(CliError::input(format!("{source}: larger than {MAX_METADATA_BYTES} bytes")));
        }
        std::fs::read(source).map_err(|e| CliError::input(format!("{source}: {e}")))?
    };
    String::from_utf8(bytes).map_err(|_| CliError::input(format!("{source}: not UTF-8")))
}

async fn import(a: SpsImportArgs) -> Result<(), CliError> {
    let token = admin_token(a.admin_token_file.as_deref())?;
    let client = http_client()?;
    let xml = read_source(&client, &a.source).await?;
    let sp = sp_config_from_metadata(&xml).map_err(|e| CliError::input(format!("{}: {e}", a.source)))?;
    let base = a.home.trim_end_matches('/');
    let request = if a.replace {
        // The entity ID is one path segment, percent-encoded (it is usually a URL itself).
        let bad_url = || CliError::input(format!("{base}: not a base URL"));
        let mut url = reqwest::Url::parse(&format!("{base}/admin/sps")).map_err(|_| bad_url())?;
        url.path_segments_mut().map_err(|_| bad_url())?.push(&sp.entity_id);
        client.put(url)
    } else {
        client.post(format!("{base}/admin/sps"))
    };
    let resp = request
        .bearer_auth(&token)
        .header(reqwest::header::CONTENT_TYPE, METADATA_TYPE)
        .body(xml)
        .send()
        .await
        .map_err(|e| CliError::input(format!("{base}: {e}")))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let detail = serde_json::from_str::<Problem>(&body)
            .map(|p| p.detail)
            .unwrap_or_else(|_| body.chars().take(300).collect());
        let hint =
            if status == reqwest::StatusCode::CONFLICT { " (add --replace to replace it)" } else { "" };
        return Err(CliError::input(format!(
            "the home IdP refused the registration: {status}: {detail}{hint}"
        )));
    }
    println!("{body}");
    eprintln!(
        "registered {} (ACS {}; releases {}; {} names)",
        sp.entity_id,
        sp.acs_urls.join(", "),
        if sp.release.is_empty() { "no attributes".to_owned() } else { sp.release.join(", ") },
        match sp.attribute_names {
            idp_home::model::AttributeNames::Standard => "standard",
            idp_home::model::AttributeNames::Short => "short",
        }
    );
    Ok(())
}
