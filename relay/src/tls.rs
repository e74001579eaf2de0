//! STARTTLS's server side (RFC 3207): rustls with the ring provider, as the
//! Kluis server's HTTPS (server/src/tls.rs). Every way a certificate or key
//! can be unusable is an error at start that names the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path} (tls.{setting})")]
    Read {
        path: PathBuf,
        setting: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid PEM (tls.{setting}): {reason}")]
    Pem { path: PathBuf, setting: &'static str, reason: String },
    #[error("no {what} in {path} (tls.{setting})")]
    Missing { path: PathBuf, setting: &'static str, what: &'static str },
    #[error("the TLS key {key} does not belong to the certificate {certificate} (tls.key and tls.certificate)")]
    Mismatch { certificate: PathBuf, key: PathBuf },
    #[error("cannot use the TLS certificate {certificate} with the key {key}: {reason}")]
    Unusable { certificate: PathBuf, key: PathBuf, reason: String },
}

/// The rustls configuration for STARTTLS from a PEM chain and key.
pub fn server_config(certificate: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = read_certificates(certificate)?;
    let private_key = read_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Unusable { certificate: certificate.into(), key: key.into(), reason: e.to_string() })?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                TlsError::Mismatch { certificate: certificate.into(), key: key.into() }
            }
            other => TlsError::Unusable { certificate: certificate.into(), key: key.into(), reason: other.to_string() },
        })?;
    Ok(Arc::new(config))
}

fn read(path: &Path, setting: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.into(), setting, source })
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| TlsError::Pem {
        path: path.into(),
        setting: "certificate",
        reason: e.to_string(),
    })?;
    if chain.is_empty() {
        return Err(TlsError::Missing {
            path: path.into(),
            setting: "certificate",
            what: "certificate (-----BEGIN CERTIFICATE-----)",
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path, "key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            TlsError::Missing { path: path.into(), setting: "key", what: "private key (-----BEGIN PRIVATE KEY-----)" }
        }
        other => TlsError::Pem { path: path.into(), setting: "key", reason: other.to_string() },
    })
}
