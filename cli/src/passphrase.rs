//! Passphrases: from a file, or typed at the terminal without echo.

use std::cell::{OnceCell, RefCell};
use std::path::Path;

use anyhow::{Context, Result, bail};
use kluis_crypto::{FileKey, Identity, Stanza, scrypt};
use zeroize::Zeroizing;

/// Reads the first line of `path` (without its line ending).
pub fn from_file(path: &Path) -> Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("cannot read passphrase file {}", path.display()))?,
    );
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        bail!("the passphrase file {} is empty", path.display());
    }
    Ok(Zeroizing::new(line.to_string()))
}

/// Prompts on the terminal (not stdin, which may carry the data).
pub fn prompt(message: &str) -> Result<Zeroizing<String>> {
    let pass = rpassword::prompt_password(message)
        .map(Zeroizing::new)
        .context("cannot read a passphrase: no terminal (use --passphrase-file)")?;
    if pass.is_empty() {
        bail!("the passphrase is empty");
    }
    Ok(pass)
}

/// Prompts twice for a new passphrase.
pub fn prompt_new() -> Result<Zeroizing<String>> {
    let first = prompt("Enter passphrase: ")?;
    let second = prompt("Confirm passphrase: ")?;
    if first != second {
        bail!("the passphrases do not match");
    }
    Ok(first)
}

/// A passphrase identity that asks for the passphrase only when the file
/// turns out to be passphrase-encrypted, as age does.
pub struct OnDemand {
    identity: OnceCell<Option<scrypt::Identity>>,
    failure: RefCell<Option<anyhow::Error>>,
}

impl OnDemand {
    pub fn new() -> Self {
        OnDemand { identity: OnceCell::new(), failure: RefCell::new(None) }
    }

    /// Why no passphrase could be read, if that happened.
    pub fn take_failure(&self) -> Option<anyhow::Error> {
        self.failure.borrow_mut().take()
    }
}

impl Identity for OnDemand {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<kluis_crypto::Result<FileKey>> {
        if stanza.tag != "scrypt" {
            return None;
        }
        let identity = self.identity.get_or_init(|| match prompt("Enter passphrase: ") {
            Ok(pass) => Some(scrypt::Identity::new(pass)),
            Err(e) => {
                *self.failure.borrow_mut() = Some(e);
                None
            }
        });
        identity.as_ref()?.unwrap_stanza(stanza)
    }
}
