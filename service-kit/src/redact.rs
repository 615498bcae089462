//! Identifiers for log lines. Logs never carry a uid, e-mail address, token or PII value; where
//! an operator needs to follow one account through the logs, they carry its *log id*: a short,
//! domain-separated SHA-256 of the identifier. An operator who knows a uid can compute its log
//! id (`idaas` prints nothing else that links them); someone who only reads the logs learns no
//! uid without guessing it.

use sha2::{Digest, Sha256};

/// The log id of `identifier`: 12 hex characters (48 bits) of `SHA-256("idaas log id v1" ‖ identifier)`.
pub fn log_id(identifier: &str) -> String {
    let digest =
        Sha256::new().chain_update(b"idaas log id v1\0").chain_update(identifier.as_bytes()).finalize();
    hex_prefix(&digest, 6)
}

fn hex_prefix(bytes: &[u8], n: usize) -> String {
    bytes.iter().take(n).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ids_are_short_stable_and_distinct() {
        assert_eq!(log_id("bob").len(), 12);
        assert_eq!(log_id("bob"), log_id("bob"));
        assert_ne!(log_id("bob"), log_id("alice"));
        assert!(!log_id("bob").contains("bob"));
    }
}
