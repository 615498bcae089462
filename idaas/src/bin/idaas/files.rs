//! File input and output for the CLI: secrets are written with mode 0600, atomically.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use crate::pbe::CliError;

/// Largest file the CLI reads (1 GiB): a guard against reading a device or a runaway file.
pub const MAX_INPUT: u64 = 1 << 30;

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    let file = fs::File::open(path).map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let mut buf = Vec::new();
    file.take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(CliError::input(format!("{}: larger than 1 GiB", path.display())));
    }
    Ok(buf)
}

/// Reads the named file or standard input.
pub fn read_input(path: Option<&Path>) -> Result<Vec<u8>, CliError> {
    match path {
        Some(p) => read(p),
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .take(MAX_INPUT + 1)
                .read_to_end(&mut buf)
                .map_err(|e| CliError::input(format!("standard input: {e}")))?;
            if buf.len() as u64 > MAX_INPUT {
                return Err(CliError::input("standard input: larger than 1 GiB"));
            }
            Ok(buf)
        }
    }
}

/// Writes to the named file (atomically: temp file + rename) or standard output.
pub fn write_output(path: Option<&Path>, data: &[u8], secret: bool) -> Result<(), CliError> {
    match path {
        Some(p) => write_file(p, data, secret),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(data)
                .and_then(|()| out.flush())
                .map_err(|e| CliError::input(format!("standard output: {e}")))
        }
    }
}

/// Writes `data` to `path` via a temporary file in the same directory, fsynced, then renamed,
/// so a crash leaves either the old file or the new one. Secrets get mode 0600 from creation.
pub fn write_file(path: &Path, data: &[u8], secret: bool) -> Result<(), CliError> {
    let err = |e: std::io::Error| CliError::input(format!("{}: {e}", path.display()));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name =
        path.file_name().ok_or_else(|| CliError::input(format!("{}: not a file name", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(&tmp).map_err(err)?;
    f.write_all(data).and_then(|()| f.sync_all()).map_err(err)?;
    drop(f);
    fs::rename(&tmp, path).map_err(err)
}
