//! HTTPS served by the server itself (`[tls]`): rustls with the ring
//! provider (the one lettre already uses; no cmake or nasm to build it).
//! Every way a certificate or key can be unusable is an error at start-up
//! that names the file.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Tls;

/// The rustls configuration for `[tls]`, or `None` when it is not configured (plain HTTP).
pub(crate) fn server_config(tls: &Tls) -> Result<Option<rustls::ServerConfig>> {
    let (Some(certificate), Some(key)) = (&tls.certificate, &tls.key) else {
        return Ok(None);
    };
    let chain = read_certificates(certificate)?;
    let private_key = read_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS: the crypto provider supports no protocol version")?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => anyhow!(
                "the TLS key {} does not belong to the certificate {} (tls.key and tls.certificate)",
                key.display(),
                certificate.display()
            ),
            other => anyhow!(
                "cannot use the TLS certificate {} with the key {}: {other}",
                certificate.display(),
                key.display()
            ),
        })?;
    Ok(Some(config))
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the TLS certificate {} (tls.certificate)", path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("the TLS certificate {} is not valid PEM: {e}", path.display()))?;
    if chain.is_empty() {
        bail!("no certificate (-----BEGIN CERTIFICATE-----) in {} (tls.certificate)", path.display());
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read the TLS key {} (tls.key)", path.display()))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            anyhow!("no private key (-----BEGIN PRIVATE KEY-----) in {} (tls.key)", path.display())
        }
        other => anyhow!("the TLS key {} is not valid PEM: {other}", path.display()),
    })
}
