//! SMTP delivery of the outbox (`smtp_url`), with lettre.
//!
//! Every message is first written to the outbox ([`crate::mail`]) as it always was: the
//! request that causes a mail (a registration) never waits for a mail server, and a message
//! acknowledged to the user survives a crash. When `smtp_url` is set, one task delivers the
//! outbox in order of arrival and moves each delivered file to `<outbox>/sent/` (kept for the
//! operator's records, mode 0600). A failure leaves the file in place and the task retries,
//! waiting longer after each failure (2 s doubling up to 5 minutes); a message the server
//! refuses permanently (5xx) is moved to `<outbox>/failed/` and logged, so it does not block
//! the queue.
//!
//! URL forms (lettre's): `smtp://host:25` (no TLS: a local relay only), `smtp://host:587?tls=required`
//! (STARTTLS, required), `smtps://host:465` (implicit TLS). Server certificates are checked
//! against the Mozilla roots (webpki-roots). Credentials come from the environment
//! (`IDAAS_SMTP_USERNAME`, `IDAAS_SMTP_PASSWORD`), never from the configuration file, and the
//! URL is logged without them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// The environment variable with the SMTP user name.
pub const USERNAME_ENV: &str = "IDAAS_SMTP_USERNAME";
/// The environment variable with the SMTP password.
pub const PASSWORD_ENV: &str = "IDAAS_SMTP_PASSWORD";
/// How often the outbox is looked at when it was empty.
const POLL: Duration = Duration::from_secs(2);
/// The longest wait between two attempts after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The largest outbox file delivered (the IdP writes a few KB; anything larger is not ours).
const MAX_MESSAGE_BYTES: u64 = 1 << 20;

/// Why `smtp_url` is unusable.
#[derive(Debug, thiserror::Error)]
#[error("smtp_url: {0}")]
pub struct SmtpUrlError(String);

/// The transport for `url`, with credentials from the environment when both are set.
pub fn transport(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, SmtpUrlError> {
    let parsed = url::Url::parse(url).map_err(|e| SmtpUrlError(e.to_string()))?;
    if !matches!(parsed.scheme(), "smtp" | "smtps") {
        return Err(SmtpUrlError("the scheme must be smtp or smtps".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(SmtpUrlError(format!(
            "no credentials in the URL: set {USERNAME_ENV} and {PASSWORD_ENV} instead"
        )));
    }
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| SmtpUrlError(e.to_string()))?;
    if let (Ok(user), Ok(password)) = (std::env::var(USERNAME_ENV), std::env::var(PASSWORD_ENV)) {
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(builder.timeout(Some(Duration::from_secs(30))).build())
}

/// Delivers the outbox `dir` through `transport` until the task is dropped.
pub async fn deliver_forever(transport: AsyncSmtpTransport<Tokio1Executor>, dir: PathBuf) {
    let mut backoff = POLL;
    loop {
        match deliver_pending(&transport, &dir).await {
            Ok(_) => backoff = POLL,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_secs = backoff.as_secs(), "SMTP delivery failed; the message stays in the outbox");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Delivers every message now in the outbox, oldest first; the number delivered. Stops at the
/// first transient failure (the server or the network), which is returned.
pub async fn deliver_pending(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    dir: &Path,
) -> Result<usize, lettre::transport::smtp::Error> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml") && p.is_file())
            .collect(),
        Err(_) => return Ok(0), // no outbox yet: nothing was ever written
    };
    // Names start with the Unix time of writing: sorting delivers in order of arrival.
    files.sort();
    let mut delivered = 0;
    for path in files {
        let Some((envelope, bytes)) = read_message(&path) else {
            park(&path, "failed");
            continue;
        };
        match transport.send_raw(&envelope, &bytes).await {
            Ok(_) => {
                park(&path, "sent");
                delivered += 1;
                tracing::info!(message = %file_name(&path), "e-mail delivered by SMTP");
            }
            Err(e) if e.is_permanent() => {
                tracing::error!(message = %file_name(&path), error = %e, "the SMTP server refused the message for good; moved to failed/");
                park(&path, "failed");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(delivered)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The envelope (from the `From:` and `To:` headers the IdP wrote) and the message bytes.
fn read_message(path: &Path) -> Option<(Envelope, Vec<u8>)> {
    if std::fs::metadata(path).ok()?.len() > MAX_MESSAGE_BYTES {
        tracing::error!(message = %file_name(path), "an outbox file is too large to be ours; moved to failed/");
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let head = text.split("\r\n\r\n").next()?;
    let header = |name: &str| {
        head.split("\r\n").find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(": "))).map(address)
    };
    let from: Address = header("From")?.parse().ok()?;
    let to: Address = header("To")?.parse().ok()?;
    let envelope = Envelope::new(Some(from), vec![to]).ok()?;
    Some((envelope, bytes))
}

/// `Name <a@b>` → `a@b`; a bare address as it is.
fn address(value: &str) -> &str {
    match (value.rfind('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.trim(),
    }
}

/// Moves a message into `<outbox>/<sub>/` (created 0700).
fn park(path: &Path, sub: &str) {
    let Some(dir) = path.parent().map(|d| d.join(sub)) else { return };
    let moved = service_kit::files::ensure_private_dir(&dir)
        .and_then(|()| std::fs::rename(path, dir.join(path.file_name().unwrap_or_default())));
    if let Err(e) = moved {
        tracing::error!(message = %file_name(path), error = %e, "could not move an outbox file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_carry_no_credentials() {
        assert!(transport("smtp://127.0.0.1:2525").is_ok());
        assert!(transport("smtps://mail.example:465").is_ok());
        assert!(transport("smtp://mail.example:587?tls=required").is_ok());
        for bad in ["http://mail.example", "smtp://user:pw@mail.example", "not a url", "smtp://"] {
            assert!(transport(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_come_from_the_headers() {
        assert_eq!(address("idaas home IdP <no-reply@idp.example>"), "no-reply@idp.example");
        assert_eq!(address("bob@example.org"), "bob@example.org");
    }
}
