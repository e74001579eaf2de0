//! Files of the data directory are private to the server's user: folders
//! 0700, files 0600 (the database, its journal, blobs, uploads, mail).

use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

/// Creates `dir` (and its parents) with mode 0700, and tightens it if it exists.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Options to create a file with mode 0600.
pub(crate) fn private_options() -> tokio::fs::OpenOptions {
    let mut options = tokio::fs::OpenOptions::new();
    #[cfg(unix)]
    options.mode(0o600);
    options
}

/// Writes a new file with mode 0600.
pub(crate) async fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut file = private_options().write(true).create(true).truncate(true).open(path).await?;
    file.write_all(data).await?;
    file.flush().await
}

/// Sets mode 0600 on a database file and the journal files beside it
/// (SQLite gives new journal files the database file's mode).
pub(crate) fn restrict_siblings(db: &Path) -> io::Result<()> {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        let path =
            db.with_file_name(format!("{}{suffix}", db.file_name().and_then(|n| n.to_str()).unwrap_or_default()));
        match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}
