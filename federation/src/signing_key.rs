//! A party's SAML signing key: RSA-2048, PKCS#8 DER in `saml-signing.key` (mode 0600), and its
//! self-signed certificate (rcgen) in `saml-signing.crt.pem`, both in the party's data
//! directory, created on first start and reused afterwards. The home IdP signs its responses
//! and logout messages with it; the web agent signs its AuthnRequests and logout messages.
//!
//! RSA because samael's xmlsec signing uses RSA (EC keys fail with its hard-coded method,
//! DESIGN.md §9) and because every SAML peer verifies RSA-SHA256.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rsa::pkcs8::EncodePrivateKey as _;
use zeroize::Zeroizing;

use crate::files::{ensure_private_dir, write_private};

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "saml-signing.key";
/// The certificate file's name in the data directory.
pub const CERT_FILE: &str = "saml-signing.crt.pem";
/// The next key during a rollover (published in metadata, not yet signing).
pub const NEXT_KEY_FILE: &str = "saml-signing.next.key";
/// The next key's certificate during a rollover.
pub const NEXT_CERT_FILE: &str = "saml-signing.next.crt.pem";

/// Why the key or certificate could not be loaded or created, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct SigningKeyError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// The signing key and its certificate.
pub struct SigningKey {
    key_der: Zeroizing<Vec<u8>>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

impl SigningKey {
    /// Loads `<data_dir>/saml-signing.key` and its certificate, creating what is missing (the
    /// directory 0700, the key 0600; a new key gets a new certificate with `common_name`).
    pub fn load_or_create(data_dir: &Path, common_name: &str) -> Result<SigningKey, SigningKeyError> {
        Self::load_or_create_files(data_dir, KEY_FILE, CERT_FILE, common_name)
    }

    /// [`SigningKey::load_or_create`] with other file names (the next key of a rollover).
    pub fn load_or_create_files(
        data_dir: &Path,
        key_file: &str,
        cert_file: &str,
        common_name: &str,
    ) -> Result<SigningKey, SigningKeyError> {
        let err = |path: &Path, reason: String| SigningKeyError { path: path.to_owned(), reason };
        ensure_private_dir(data_dir).map_err(|e| err(data_dir, e.to_string()))?;
        let key_path = data_dir.join(key_file);
        let cert_path = data_dir.join(cert_file);
        let key_der = if key_path.exists() {
            Zeroizing::new(fs::read(&key_path).map_err(|e| err(&key_path, e.to_string()))?)
        } else {
            let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
                .map_err(|e| err(&key_path, e.to_string()))?;
            let der = key.to_pkcs8_der().map_err(|e| err(&key_path, e.to_string()))?;
            let der = Zeroizing::new(der.as_bytes().to_vec());
            write_private(&key_path, &der, 0o600).map_err(|e| err(&key_path, e.to_string()))?;
            // A new key invalidates any old certificate.
            let _ = fs::remove_file(&cert_path);
            der
        };
        let cert_pem = if cert_path.exists() {
            fs::read_to_string(&cert_path).map_err(|e| err(&cert_path, e.to_string()))?
        } else {
            let pem = self_signed_certificate(&key_der, common_name).map_err(|r| err(&cert_path, r))?;
            write_private(&cert_path, pem.as_bytes(), 0o644).map_err(|e| err(&cert_path, e.to_string()))?;
            pem
        };
        let cert_der =
            pem_to_der(&cert_pem).ok_or_else(|| err(&cert_path, "not a PEM certificate".into()))?;
        Ok(SigningKey { key_der, cert_pem, cert_der })
    }

    /// The key, PKCS#8 DER (secret).
    pub fn key_der(&self) -> &[u8] {
        &self.key_der
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate as base64 DER without PEM armour (`ds:X509Certificate`).
    pub fn cert_base64(&self) -> String {
        STANDARD.encode(&self.cert_der)
    }

    /// The certificate's SHA-256 fingerprint, lowercase hex (what operators compare with an
    /// SP's configuration).
    pub fn fingerprint_sha256(&self) -> String {
        use sha2::Digest as _;
        sha2::Sha256::digest(&self.cert_der).iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn self_signed_certificate(key_der: &[u8], common_name: &str) -> Result<String, String> {
    let pem = pem_armour("PRIVATE KEY", key_der);
    let key_pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    let cert = params.self_signed(&key_pair).map_err(|e| e.to_string())?;
    Ok(cert.pem())
}

/// DER as PEM with `label` (64-character lines).
pub fn pem_armour(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// The DER of the first PEM block.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(body.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let a = SigningKey::load_or_create(dir.path(), "test").unwrap();
        let mode = fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = SigningKey::load_or_create(dir.path(), "test").unwrap();
        assert_eq!(a.cert_pem(), b.cert_pem());
        assert_eq!(a.key_der(), b.key_der());
        assert_eq!(pem_to_der(a.cert_pem()).unwrap(), a.cert_der());
        assert!(!format!("{a:?}").contains("BEGIN"));
    }
}
