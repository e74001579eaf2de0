//! Files that are either whole or absent after a crash: written under a
//! temporary name, fsynced, renamed into place, and the directory fsynced
//! (the rename is durable only once the directory is; see fsync(2),
//! "Calling fsync() does not necessarily ensure that the entry in the
//! directory containing the file has also reached disk").

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `name` in `dir` (mode 0600) with `write`, durably and atomically:
/// a reader sees the old file or the whole new one, never a part. With
/// `replace` false an existing file is kept and `Ok(false)` is returned.
pub fn write_file(
    dir: &Path,
    name: &str,
    replace: bool,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<bool> {
    let temp = dir.join(temp_name(name));
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temp)?;
    let written = write(&mut file).and_then(|()| file.flush()).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    let target = dir.join(name);
    let placed = if replace {
        fs::rename(&temp, &target).map(|()| true)
    } else {
        // A hard link fails if the name exists: no check-then-rename race.
        let linked = match fs::hard_link(&temp, &target) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        };
        let _ = fs::remove_file(&temp);
        linked
    };
    let placed = placed?;
    sync_dir(dir)?;
    Ok(placed)
}

/// The temporary name `write_file` uses for `name`: hidden, `.tmp`.
pub fn temp_name(name: &str) -> String {
    format!(".{name}.tmp")
}

/// Whether `name` is one of `write_file`'s temporary names.
pub fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Makes renames and removals in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` (and its parents) mode 0700 if it is missing.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::write_file;

    #[test]
    fn files_are_whole_private_and_kept_unless_replaced() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_file(dir.path(), "a", false, |f| std::io::Write::write_all(f, b"one")).unwrap());
        assert!(!write_file(dir.path(), "a", false, |f| std::io::Write::write_all(f, b"two")).unwrap());
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"one");
        assert!(write_file(dir.path(), "a", true, |f| std::io::Write::write_all(f, b"three")).unwrap());
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"three");
        let mode = std::fs::metadata(dir.path().join("a")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A failed write leaves nothing behind.
        let failed = write_file(dir.path(), "b", true, |_| Err(std::io::Error::other("disk full")));
        assert!(failed.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
