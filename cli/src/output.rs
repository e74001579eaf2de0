//! Where results go. A named regular file is written to a temporary file
//! beside it and renamed into place only on success, so a failed or
//! interrupted run never leaves a partial file that looks complete.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub enum Output {
    Stdout(io::Stdout),
    /// Written in place (devices, pipes).
    Direct(File),
    /// Written beside `target` and renamed on [`Output::commit`].
    Staged {
        file: File,
        temp: PathBuf,
        target: PathBuf,
        committed: bool,
    },
}

impl Output {
    /// Opens `path` (stdout when `None` or `-`). `binary` output is refused
    /// on a terminal, where it would garble the screen.
    pub fn open(path: Option<&Path>, binary: bool, private: bool) -> Result<Output> {
        let path = path.filter(|p| p.as_os_str() != "-");
        let Some(target) = path else {
            let stdout = io::stdout();
            if binary && stdout.is_terminal() {
                bail!("refusing to write binary output to the terminal; use -o FILE or -a for armor");
            }
            return Ok(Output::Stdout(stdout));
        };
        match fs::metadata(target) {
            Ok(meta) if !meta.is_file() => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(target)
                    .with_context(|| format!("cannot open {}", target.display()))?;
                return Ok(Output::Direct(file));
            }
            _ => {}
        }
        let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = target.file_name().context("the output path has no file name")?.to_string_lossy();
        for attempt in 0u32.. {
            let temp = dir.join(format!(".{name}.kluis-{}-{attempt}.tmp", std::process::id()));
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(if private { 0o600 } else { 0o666 });
            }
            match options.open(&temp) {
                Ok(file) => {
                    return Ok(Output::Staged { file, temp, target: target.to_path_buf(), committed: false });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create a file in {}", dir.display()));
                }
            }
        }
        unreachable!()
    }

    /// Makes the output final: flushes and renames a staged file into place.
    /// (No fsync: like cp and age we leave durability to the file system; the
    /// rename protects against a failed or killed run, which is what matters
    /// for a decryption that turns out to be damaged halfway.)
    pub fn commit(mut self) -> Result<()> {
        self.flush()?;
        if let Output::Staged { temp, target, committed, .. } = &mut self {
            fs::rename(&*temp, &*target).with_context(|| format!("cannot create {}", target.display()))?;
            *committed = true;
        }
        Ok(())
    }
}

impl Output {
    fn name(&self) -> String {
        match self {
            Output::Stdout(_) => "standard output".into(),
            Output::Direct(_) => "the output".into(),
            Output::Staged { target, .. } => target.display().to_string(),
        }
    }
}

/// Write errors name the output, e.g. "cannot write out.pdf: No space left on device".
impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = match self {
            Output::Stdout(s) => s.write(buf),
            Output::Direct(f) | Output::Staged { file: f, .. } => f.write(buf),
        };
        result.map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", self.name())))
    }
    fn flush(&mut self) -> io::Result<()> {
        let result = match self {
            Output::Stdout(s) => s.flush(),
            Output::Direct(f) | Output::Staged { file: f, .. } => f.flush(),
        };
        result.map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", self.name())))
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Output::Staged { temp, committed: false, .. } = self {
            let _ = fs::remove_file(temp);
        }
    }
}
