//! TLS: the server side of every listener (rustls, HTTP/1.1 and HTTP/2 by ALPN, reloaded on
//! SIGHUP) and the trust of every outbound client (the built-in Mozilla roots, the system's
//! bundle, and an optional extra CA file).
//!
//! Certificates and keys are PEM files named in each service's configuration (`tls_cert`,
//! `tls_key`). A reload reads both again and swaps the configuration new handshakes use;
//! connections already open keep theirs. A reload that fails (a missing file, a key that does
//! not match) keeps the old configuration and says why: an operator replacing a certificate
//! must never take the service down with a typo.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// Largest certificate chain, key or CA file read (PEM): a certificate is a few KiB, the
/// system bundle a few hundred.
const MAX_PEM_BYTES: u64 = 4 << 20;

/// Where the system keeps its CA bundle (Debian, Ubuntu, Alpine; Fedora and RHEL second), or
/// `SSL_CERT_FILE` when set, as OpenSSL reads it.
const SYSTEM_BUNDLES: [&str; 2] = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"];

/// A TLS error: which file, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{path}: {what}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The HTTP client could not be built with this trust.
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The certificate and the key do not make a TLS configuration.
    #[error("TLS configuration from {cert} and {key}: {source}")]
    Config {
        /// The certificate chain file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
}

impl From<TlsError> for std::io::Error {
    fn from(e: TlsError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

/// The TLS files of a listener, as written in a service's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The pair from the two optional configuration keys; both or neither.
    pub fn from_config(cert: Option<&Path>, key: Option<&Path>) -> Result<Option<TlsFiles>, String> {
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(c), Some(k)) => Ok(Some(TlsFiles { cert: c.to_path_buf(), key: k.to_path_buf() })),
            _ => Err("tls_cert and tls_key go together: set both or neither".into()),
        }
    }
}

/// The server side of TLS for one listener; clones share one configuration, so a reload
/// reaches every connection accepted after it.
#[derive(Clone)]
pub struct ServerTls {
    files: Arc<TlsFiles>,
    current: Arc<RwLock<Arc<rustls::ServerConfig>>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("files", &self.files).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads the certificate chain and key; an error names the file and the reason.
    pub fn load(files: TlsFiles) -> Result<ServerTls, TlsError> {
        let config = server_config(&files)?;
        Ok(ServerTls { files: Arc::new(files), current: Arc::new(RwLock::new(Arc::new(config))) })
    }

    /// Reads the files again; on success new handshakes use them, on error nothing changes.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(server_config(&self.files)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
        Ok(())
    }

    /// The acceptor for the next handshake.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = self.current.read().unwrap_or_else(PoisonError::into_inner).clone();
        tokio_rustls::TlsAcceptor::from(config)
    }

    /// Reloads on every SIGHUP until the returned task is aborted (Unix; elsewhere a task that
    /// does nothing).
    pub fn reload_on_sighup(&self) -> tokio::task::JoinHandle<()> {
        let tls = self.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut hup) = signal(SignalKind::hangup()) else {
                    tracing::warn!("cannot listen for SIGHUP: TLS files are not reloaded");
                    return;
                };
                while hup.recv().await.is_some() {
                    match tls.reload() {
                        Ok(()) => {
                            tracing::info!(cert = %tls.files.cert.display(), "TLS certificate reloaded")
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "TLS reload failed; the previous certificate stays")
                        }
                    }
                }
            }
            #[cfg(not(unix))]
            drop(tls);
        })
    }
}

fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, TlsError> {
    let certs = read_certificates(&files.cert)?;
    let key_pem = read_bounded(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| invalid(&files.key, format!("no private key in PEM form ({e})")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|source| TlsError::Config { cert: files.cert.clone(), key: files.key.clone(), source })?;
    // HTTP/2 first: a client that speaks it multiplexes the page and its assets on one
    // connection; every other client gets HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Every certificate in a PEM file; at least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_bounded(path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(path, format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(invalid(path, "holds no certificate".into()));
    }
    Ok(certs)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read as _;
    let read_err = |source| TlsError::Read { path: path.to_path_buf(), source };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read_err)?
        .take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(invalid(path, format!("larger than {MAX_PEM_BYTES} bytes")));
    }
    Ok(bytes)
}

fn invalid(path: &Path, what: String) -> TlsError {
    TlsError::Invalid { path: path.to_path_buf(), what }
}

/// A `reqwest` client builder that verifies servers against the built-in Mozilla roots, the
/// system's CA bundle (when there is one) and `extra_ca` (a PEM file of one or more CA
/// certificates, e.g. the quickstart's local CA). Every outbound client of the services
/// starts here.
pub fn client_builder(extra_ca: Option<&Path>) -> Result<reqwest::ClientBuilder, TlsError> {
    let mut builder = reqwest::Client::builder().tls_built_in_root_certs(true);
    if let Some(bundle) = system_bundle() {
        // A system bundle we cannot parse is the system's problem; the built-in roots remain.
        if let Ok(pem) = read_bounded(&bundle) {
            for cert in reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default() {
                builder = builder.add_root_certificate(cert);
            }
        }
    }
    if let Some(path) = extra_ca {
        let pem = read_bounded(path)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| invalid(path, format!("not a PEM certificate file ({e})")))?;
        if certs.is_empty() {
            return Err(invalid(path, "holds no certificate".into()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder)
}

fn system_bundle() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SSL_CERT_FILE") {
        return Some(PathBuf::from(p));
    }
    SYSTEM_BUNDLES.iter().map(PathBuf::from).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn half_a_pair_is_refused() {
        assert!(TlsFiles::from_config(Some(Path::new("c")), None).is_err());
        assert!(TlsFiles::from_config(None, Some(Path::new("k"))).is_err());
        assert_eq!(TlsFiles::from_config(None, None).unwrap(), None);
    }

    #[test]
    fn bad_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let missing = ServerTls::load(TlsFiles { cert: cert.clone(), key: key.clone() }).unwrap_err();
        assert!(missing.to_string().contains("cert.pem"), "{missing}");
        std::fs::write(&cert, b"not pem").unwrap();
        let garbage = ServerTls::load(TlsFiles { cert: cert.clone(), key: key.clone() }).unwrap_err();
        assert!(garbage.to_string().contains("no certificate"), "{garbage}");
        let huge = dir.path().join("huge.pem");
        std::fs::write(&huge, vec![b'A'; (MAX_PEM_BYTES + 1) as usize]).unwrap();
        let too_big = read_certificates(&huge).unwrap_err();
        assert!(too_big.to_string().contains("larger than"), "{too_big}");
        assert!(client_builder(Some(&cert)).is_err(), "an extra CA file without a certificate");
    }
}
