//! Key material created on first start and reused afterwards (DESIGN.md §6: mode 0600):
//!
//! - `saml-signing.key` — RSA-2048 PKCS#8 DER for XML signatures (samael's xmlsec signing uses
//!   RSA; EC keys fail with its hard-coded method, DESIGN.md §9);
//! - `saml-signing.crt.pem` — its self-signed certificate (rcgen), published in the metadata;
//! - `abe-<authority>.msk` — the ABE authority's master secret key (`federation::authority`);
//! - `pii-ref.key` — the HMAC key of `idaas:pii-ref` references ([`crate::pii_ref`]).

use std::fs;
use std::path::{Path, PathBuf};

use federation::authority::AuthorityKey;
use pbe_core::SuiteId;
use rand_core::{CryptoRng, OsRng, RngCore};
use rsa::pkcs8::EncodePrivateKey;
use service_kit::files::{ensure_private_dir, write_private};
use zeroize::Zeroizing;

/// Why key material could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// File-system failure, naming the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A key file exists but is not valid, naming the file.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Maps an I/O error to [`KeysError::Io`] naming `path`.
pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> KeysError + '_ {
    move |source| KeysError::Io { path: path.to_owned(), source }
}

/// This IdP's key material.
pub struct Keys {
    signing_key_der: Zeroizing<Vec<u8>>,
    cert_pem: String,
    cert_der: Vec<u8>,
    authority: AuthorityKey,
    pii_ref: crate::pii_ref::PiiRefKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("authority", &self.authority_name())
            .field("secrets", &"[redacted]")
            .finish()
    }
}

impl Keys {
    /// Loads the key material from `data_dir`, creating what is missing.
    pub fn load_or_create(data_dir: &Path, authority: &str, suite: SuiteId) -> Result<Keys, KeysError> {
        ensure_private_dir(data_dir).map_err(io(data_dir))?;
        let key_path = data_dir.join("saml-signing.key");
        let cert_path = data_dir.join("saml-signing.crt.pem");
        let signing_key_der = if key_path.exists() {
            Zeroizing::new(fs::read(&key_path).map_err(io(&key_path))?)
        } else {
            let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048)
                .map_err(|e| KeysError::Invalid { path: key_path.clone(), reason: e.to_string() })?;
            let der = key
                .to_pkcs8_der()
                .map_err(|e| KeysError::Invalid { path: key_path.clone(), reason: e.to_string() })?;
            let der = Zeroizing::new(der.as_bytes().to_vec());
            write_private(&key_path, &der, 0o600).map_err(io(&key_path))?;
            // A new key invalidates any old certificate.
            let _ = fs::remove_file(&cert_path);
            der
        };
        let cert_pem = if cert_path.exists() {
            fs::read_to_string(&cert_path).map_err(io(&cert_path))?
        } else {
            let pem = self_signed_certificate(&signing_key_der, authority)
                .map_err(|reason| KeysError::Invalid { path: cert_path.clone(), reason })?;
            write_private(&cert_path, pem.as_bytes(), 0o644).map_err(io(&cert_path))?;
            pem
        };
        let cert_der = pem_to_der(&cert_pem).ok_or_else(|| KeysError::Invalid {
            path: cert_path.clone(),
            reason: "not a PEM certificate".into(),
        })?;

        let authority = AuthorityKey::load_or_create(data_dir, authority, suite)
            .map_err(|e| KeysError::Invalid { path: e.path, reason: e.reason })?;
        let pii_ref = crate::pii_ref::PiiRefKey::load_or_create(data_dir)?;
        Ok(Keys { signing_key_der, cert_pem, cert_der, authority, pii_ref })
    }

    /// The XML-signing key, PKCS#8 DER (secret).
    pub fn signing_key_der(&self) -> &[u8] {
        &self.signing_key_der
    }

    /// The signing certificate, PEM.
    pub fn signing_cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The signing certificate, DER.
    pub fn signing_cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The signing certificate as base64 DER without PEM armour (for `ds:X509Certificate`).
    pub fn signing_cert_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&self.cert_der)
    }

    /// The key of `idaas:pii-ref` references.
    pub fn pii_ref_key(&self) -> &crate::pii_ref::PiiRefKey {
        &self.pii_ref
    }

    /// The ABE authority's name.
    pub fn authority_name(&self) -> &str {
        self.authority.name()
    }

    /// The ABE suite.
    pub fn suite(&self) -> SuiteId {
        self.authority.suite()
    }

    /// The ABE authority public key, base64url text form.
    pub fn authority_public_key_text(&self) -> String {
        self.authority.public_key_text()
    }

    /// Issues a Time Access Token for `(uid, session)`: `access_time` = `day` (its 17
    /// segment-tree nodes), `domain:<domain>` and `country:<country>`. Returns the key bundle
    /// bytes (secret; seal them before they leave the process).
    pub fn issue_tat<R: RngCore + CryptoRng>(
        &self,
        uid: &str,
        session: &str,
        day: u64,
        domain: &str,
        country: &str,
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<u8>>, pbe_core::Error> {
        let name = self.authority.name();
        let mut attrs = pbe_core::segtree::path_attributes("access_time", name, day)?;
        attrs.push(pbe_core::Attribute::new("domain", domain, name)?);
        attrs.push(pbe_core::Attribute::new("country", country, name)?);
        self.authority.issue(uid, session, &attrs, rng)
    }
}

fn self_signed_certificate(key_der: &[u8], authority: &str) -> Result<String, String> {
    let pkcs8 = rustls_pki_pem(key_der);
    let key_pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("idaas home IdP {authority} SAML signing"));
    let cert = params.self_signed(&key_pair).map_err(|e| e.to_string())?;
    Ok(cert.pem())
}

/// PKCS#8 DER → PEM (rcgen reads PEM).
fn rustls_pki_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// Extracts the DER of the first PEM block.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_with_private_modes_and_reuses() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let k1 = Keys::load_or_create(dir.path(), "telekom", SuiteId::Bls12_381).unwrap();
        for f in ["saml-signing.key", "abe-telekom.msk"] {
            let mode = fs::metadata(dir.path().join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        let k2 = Keys::load_or_create(dir.path(), "telekom", SuiteId::Bls12_381).unwrap();
        assert_eq!(k1.authority_public_key_text(), k2.authority_public_key_text());
        assert_eq!(k1.signing_cert_pem(), k2.signing_cert_pem());
        assert!(Keys::load_or_create(dir.path(), "telekom", SuiteId::Bn254).is_err());
        assert!(!format!("{k1:?}").contains("BEGIN"));
    }

    #[test]
    fn refuses_a_key_of_another_authority() {
        let dir = tempfile::tempdir().unwrap();
        Keys::load_or_create(dir.path(), "telekom", SuiteId::Bls12_381).unwrap();
        fs::rename(dir.path().join("abe-telekom.msk"), dir.path().join("abe-other.msk")).unwrap();
        let err = Keys::load_or_create(dir.path(), "other", SuiteId::Bls12_381).unwrap_err();
        assert!(err.to_string().contains("telekom"));
    }
}
