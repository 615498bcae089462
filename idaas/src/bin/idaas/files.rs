//! File input and output for the CLI: secrets are written with mode 0600, atomically (through
//! `service_kit::files`).

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use crate::error::CliError;

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

/// Writes `data` to `path` atomically with federation's private-file writer (temporary file
/// created with its final mode, fsynced, renamed), so a crash leaves either the old file or the
/// new one. Secrets get mode 0600 from creation, other outputs 0644.
pub fn write_file(path: &Path, data: &[u8], secret: bool) -> Result<(), CliError> {
    if path.file_name().is_none() {
        return Err(CliError::input(format!("{}: not a file name", path.display())));
    }
    service_kit::files::write_private(path, data, if secret { 0o600 } else { 0o644 })
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))
}
