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

/// The lock file of a data directory whose metadata is in SQLite: every
/// process using it (servers, administrative commands) holds it shared;
/// `kluis-server migrate` takes it alone, so it knows no server runs on the
/// database it moves, and none starts while it does (an advisory `flock`,
/// released when the process ends, however it ends).
const DATA_LOCK: &str = "kluis.lock";

/// How a data directory's lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataLock {
    Shared,
    Alone,
}

/// Takes the data directory's lock without waiting; `Ok(None)` when another
/// process holds it in a way that excludes this one. Keep the file: closing it releases the lock.
pub(crate) fn lock_data_dir(dir: &Path, how: DataLock) -> io::Result<Option<std::fs::File>> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(dir.join(DATA_LOCK))?;
    let taken = match how {
        DataLock::Shared => file.try_lock_shared(),
        DataLock::Alone => file.try_lock(),
    };
    match taken {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::{DataLock, lock_data_dir};

    #[test]
    fn servers_share_the_data_directory_and_a_migration_has_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let node_a = lock_data_dir(dir.path(), DataLock::Shared).unwrap().expect("shared");
        let node_b = lock_data_dir(dir.path(), DataLock::Shared).unwrap().expect("shared by two nodes");
        assert!(lock_data_dir(dir.path(), DataLock::Alone).unwrap().is_none(), "not while a node runs");
        drop((node_a, node_b));
        let migration = lock_data_dir(dir.path(), DataLock::Alone).unwrap().expect("alone once they stopped");
        assert!(lock_data_dir(dir.path(), DataLock::Shared).unwrap().is_none(), "no node starts meanwhile");
        drop(migration);
        assert!(lock_data_dir(dir.path(), DataLock::Shared).unwrap().is_some());
    }
}
