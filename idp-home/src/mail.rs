//! Outgoing e-mail, written as RFC 5322 `.eml` files into an outbox directory.
//!
//! With `smtp_url` the outbox is delivered by [`crate::smtp`]; without it an operator (or a
//! mail transfer agent watching the directory) picks the files up. Files are created with mode 0600 under a temporary name and
//! renamed, so a reader never sees half a message.

use std::path::{Path, PathBuf};

use crate::keys::io;

/// Why a message could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// A header value contains a line break or other control character (header injection).
    #[error("header {0} contains a control character")]
    BadHeader(&'static str),
    /// The time could not be formatted.
    #[error("formatting the date: {0}")]
    Date(String),
    /// The outbox could not be written.
    #[error("outbox: {0}")]
    Io(#[from] crate::keys::KeysError),
}

/// A plain-text message.
#[derive(Debug, Clone)]
pub struct Message {
    /// `From:` header value.
    pub from: String,
    /// `To:` header value (an address).
    pub to: String,
    /// `Subject:`.
    pub subject: String,
    /// Body (ASCII or UTF-8; lines are re-ended with CRLF).
    pub body: String,
}

/// An outbox directory.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    /// An outbox writing to `dir` (created with mode 0700 on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Outbox { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `msg` as `<time>-<uuid>.eml` (mode 0600) and returns its path.
    pub fn send(&self, msg: &Message, now: i64) -> Result<PathBuf, MailError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let text = render(msg, now, &id)?;
        service_kit::files::ensure_private_dir(&self.dir).map_err(io(&self.dir))?;
        let path = self.dir.join(format!("{now}-{id}.eml"));
        service_kit::files::write_private(&path, text.as_bytes(), 0o600).map_err(io(&path))?;
        Ok(path)
    }
}

fn check_header(name: &'static str, value: &str) -> Result<(), MailError> {
    if value.chars().any(char::is_control) {
        return Err(MailError::BadHeader(name));
    }
    Ok(())
}

/// Renders an RFC 5322 message with CRLF line endings.
pub fn render(msg: &Message, now: i64, id: &str) -> Result<String, MailError> {
    check_header("From", &msg.from)?;
    check_header("To", &msg.to)?;
    check_header("Subject", &msg.subject)?;
    let date = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|e| MailError::Date(e.to_string()))?
        .format(&time::format_description::well_known::Rfc2822)
        .map_err(|e| MailError::Date(e.to_string()))?;
    let domain = msg.from.rsplit_once('@').map_or("localhost", |(_, d)| d.trim_end_matches('>'));
    let subject = if msg.subject.is_ascii() {
        msg.subject.clone()
    } else {
        use base64::Engine as _;
        format!("=?utf-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(&msg.subject))
    };
    let mut out = String::new();
    for (name, value) in [
        ("Date", date.as_str()),
        ("From", msg.from.as_str()),
        ("To", msg.to.as_str()),
        ("Subject", subject.as_str()),
        ("Message-ID", &format!("<{id}@{domain}>")),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", "8bit"),
    ] {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    for line in msg.body.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> Message {
        Message {
            from: "idaas <no-reply@idp.example>".into(),
            to: "bob@example.org".into(),
            subject: "Verify".into(),
            body: "line 1\nline 2\n".into(),
        }
    }

    #[test]
    fn renders_rfc5322_with_crlf() {
        let text = render(&msg(), 0, "abc").unwrap();
        assert!(text.starts_with("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
        assert!(text.contains("Message-ID: <abc@idp.example>\r\n"));
        assert!(text.ends_with("\r\n\r\nline 1\r\nline 2\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn refuses_header_injection() {
        let mut m = msg();
        m.to = "bob@example.org\r\nBcc: eve@example.org".into();
        assert!(matches!(render(&m, 0, "x"), Err(MailError::BadHeader("To"))));
    }

    #[test]
    fn writes_private_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("outbox"));
        let path = outbox.send(&msg(), 100).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(path.extension().unwrap(), "eml");
    }
}
