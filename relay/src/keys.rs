//! The relay's spool key: an age X25519 identity made on the first start
//! in the state directory (`spool.key`, mode 0600, `AGE-SECRET-KEY-1…` as
//! age-keygen writes it). Every spooled message is encrypted to it
//! (docs/relay.md, "Spool"), so the spool on disk holds no plaintext; the
//! key never leaves this machine.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kluis_crypto::native::Identity;

use crate::durable;

/// The key file's name in the state directory.
pub const KEY_FILE: &str = "spool.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write the spool key {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the spool key {path} is not an age identity (AGE-SECRET-KEY-1…): the file is damaged")]
    Damaged { path: PathBuf },
    #[error("the spool key {path} can be read by others (mode {mode:o}): chmod 600 it")]
    Exposed { path: PathBuf, mode: u32 },
    #[error("cannot make a spool key")]
    Generate(#[source] kluis_crypto::Error),
}

/// The spool identity in `state_dir`, made on the first start.
pub fn load_or_create(state_dir: &Path) -> Result<Identity, KeyError> {
    let path = state_dir.join(KEY_FILE);
    let io = |source| KeyError::Io { path: path.clone(), source };
    durable::private_dir(state_dir).map_err(io)?;
    if !path.exists() {
        let identity = Identity::generate(false).map_err(KeyError::Generate)?;
        let secret = identity.to_secret_string();
        // Two relays starting at once on one directory: the first key stays.
        durable::write_file(state_dir, KEY_FILE, false, |file| {
            file.write_all(b"# kluis-relay spool key: messages in the spool are encrypted to it\n")?;
            file.write_all(secret.as_bytes())?;
            file.write_all(b"\n")
        })
        .map_err(io)?;
    }
    let mode = std::fs::metadata(&path).map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Exposed { path, mode: mode & 0o777 });
    }
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(io)?);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
    line.and_then(|l| l.parse().ok()).ok_or(KeyError::Damaged { path })
}

#[cfg(test)]
mod tests {
    use super::{KEY_FILE, KeyError, load_or_create};

    #[test]
    fn the_key_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = load_or_create(&state).unwrap().to_public().to_string();
        let again = load_or_create(&state).unwrap().to_public().to_string();
        assert_eq!(first, again);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(state.join(KEY_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load_or_create(&state), Err(KeyError::Exposed { .. })));
        std::fs::set_permissions(state.join(KEY_FILE), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(state.join(KEY_FILE), "garbage\n").unwrap();
        assert!(matches!(load_or_create(&state), Err(KeyError::Damaged { .. })));
    }
}
