//! `idaas quickstart --tls`: a local CA and one certificate per service under `DIR/tls/`.
//!
//! The CA is made for this one data directory and can do little harm once trusted: it is
//! name-constrained to `localhost` and `127.0.0.0/8` (a certificate it signed for any other
//! name is refused by every verifier that honours RFC 5280 name constraints, rustls and
//! Chromium included), and its private key is never written to disk — the leaf certificates
//! are issued in the same run, and a later run that finds one missing issues a new CA and
//! new leaves together.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa,
    KeyPair, KeyUsagePurpose, NameConstraints,
};

use super::StackError;

/// The CA certificate file under `DIR/tls/`, the one to trust.
pub const CA_FILE: &str = "ca.pem";

/// The names every certificate is valid for: the quickstart listens on 127.0.0.1 only.
const NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// The local CA's certificate and the services' certificates and keys.
#[derive(Debug, Clone)]
pub struct LocalTls {
    dir: PathBuf,
}

impl LocalTls {
    /// Uses the certificates under `dir` when every one of `services` has one, or issues a
    /// new CA and all of them.
    pub fn ensure(dir: &Path, services: &[&str]) -> Result<LocalTls, StackError> {
        let tls = LocalTls { dir: dir.to_path_buf() };
        let complete =
            tls.ca_file().is_file() && services.iter().all(|s| tls.cert(s).is_file() && tls.key(s).is_file());
        if !complete {
            tls.issue(services).map_err(|e| StackError(format!("local TLS certificates: {e}")))?;
        }
        Ok(tls)
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join(CA_FILE)
    }

    /// The certificate chain of `service` (its leaf, then the CA).
    pub fn cert(&self, service: &str) -> PathBuf {
        self.dir.join(format!("{service}.pem"))
    }

    /// The private key of `service`.
    pub fn key(&self, service: &str) -> PathBuf {
        self.dir.join(format!("{service}.key"))
    }

    fn issue(&self, services: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
        service_kit::files::ensure_private_dir(&self.dir)?;
        // Absent until the whole set is written again (see below).
        match std::fs::remove_file(self.ca_file()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(DnType::CommonName, "idaas quickstart local CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![
                GeneralSubtree::DnsName("localhost".into()),
                GeneralSubtree::IpAddress(CidrSubnet::V4([127, 0, 0, 0], [255, 0, 0, 0])),
            ],
            excluded_subtrees: Vec::new(),
        });
        let ca = ca_params.self_signed(&ca_key)?;
        for service in services {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(NAMES.map(str::to_owned).to_vec())?;
            params.distinguished_name.push(DnType::CommonName, format!("idaas quickstart {service}"));
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            let leaf = params.signed_by(&key, &ca, &ca_key)?;
            service_kit::files::write_private(&self.key(service), key.serialize_pem().as_bytes(), 0o600)?;
            let chain = format!("{}{}", leaf.pem(), ca.pem());
            service_kit::files::write_private(&self.cert(service), chain.as_bytes(), 0o644)?;
        }
        // Last: its presence says the set is complete.
        service_kit::files::write_private(&self.ca_file(), ca.pem().as_bytes(), 0o644)?;
        Ok(())
    }
}
