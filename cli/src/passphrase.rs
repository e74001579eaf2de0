//! Passphrases: from a file, or typed at the terminal without echo.

use std::cell::{OnceCell, RefCell};
use std::path::Path;

use anyhow::{Context, Result, bail};
use kluis_crypto::{FileKey, Identity, Stanza, scrypt};
use zeroize::Zeroizing;

/// Reads the first line of `path` (without its line ending).
pub fn from_file(path: &Path) -> Result<Zeroizing<String>> {
    secret_from_file(path, "passphrase")
}

/// A package password from the first line of `path`.
pub fn password_from_file(path: &Path) -> Result<Zeroizing<String>> {
    secret_from_file(path, "password")
}

fn secret_from_file(path: &Path, what: &str) -> Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("cannot read {what} file {}", path.display()))?,
    );
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        bail!("the {what} file {} is empty", path.display());
    }
    Ok(Zeroizing::new(line.to_string()))
}

/// Prompts on the terminal (not stdin, which may carry the data).
pub fn prompt(message: &str) -> Result<Zeroizing<String>> {
    prompt_secret(message, "passphrase")
}

/// Prompts for a package password on the terminal.
pub fn prompt_password(message: &str) -> Result<Zeroizing<String>> {
    prompt_secret(message, "password")
}

fn prompt_secret(message: &str, what: &str) -> Result<Zeroizing<String>> {
    let pass = rpassword::prompt_password(message)
        .map(Zeroizing::new)
        .with_context(|| format!("cannot read a {what}: no terminal (use --{what}-file)"))?;
    if pass.is_empty() {
        bail!("the {what} is empty");
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

/// Prompts twice for a new package password, on a terminal only: without
/// one (stdin redirected) it says to use `--password-file`.
pub fn prompt_new_password() -> Result<Zeroizing<String>> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!("cannot ask for a password: no terminal (use --password-file FILE)");
    }
    let first = prompt_password("Password for the package: ")?;
    let second = prompt_password("Type it again: ")?;
    if first != second {
        bail!("the passwords do not match");
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
