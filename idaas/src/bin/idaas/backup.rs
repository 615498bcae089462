//! `idaas backup --data-dir DIR --out FILE`: one archive of a data directory (docs/operations.md#backups).
//!
//! The archive is a gzip'd tar holding
//! - `files/<path>`: every regular file under DIR (keys, certificates, metadata, passwords of
//!   the quickstart, outbox) except sled's own files;
//! - `sled/<path>`: a consistent snapshot ([`service_kit::backup`]) of every sled database
//!   under DIR, asked of the service running on it through its backup socket, or read
//!   directly when none runs;
//! - `manifest.json`, last: what the archive holds, with SHA-256 digests, so that `idaas
//!   restore` can tell a whole archive from a truncated or altered one.
//!
//! The archive is written 0600 to a temporary file beside FILE and renamed over it only when
//! complete. It holds private keys and password hashes: keep it as secret as the directory.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::CliError;

/// The archive format this build writes and reads.
pub const FORMAT: u32 = 1;

/// The manifest's name in the archive.
pub const MANIFEST: &str = "manifest.json";

/// What an archive holds.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// When the backup was made, Unix seconds.
    pub created: u64,
    /// The idaas version that made it.
    pub idaas_version: String,
    /// The regular files, by path relative to the data directory.
    pub files: Vec<Item>,
    /// The sled databases, by directory relative to the data directory.
    pub databases: Vec<Item>,
}

/// One file or database snapshot in the archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Relative path, `/`-separated.
    pub path: String,
    /// Length of the archived bytes.
    pub bytes: u64,
    /// SHA-256 of the archived bytes, hex.
    pub sha256: String,
    /// Unix mode bits (files: 0600 or 0644).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Databases: how many entries the snapshot holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
}

/// Whether `dir` is a sled database directory (sled writes `conf` and `db` there).
pub fn is_sled_db(dir: &Path) -> bool {
    dir.join("conf").is_file() && dir.join("db").is_file()
}

/// Runs `idaas backup`.
pub fn run(data_dir: &Path, out: &Path) -> Result<(), CliError> {
    let meta =
        std::fs::metadata(data_dir).map_err(|e| CliError::input(format!("{}: {e}", data_dir.display())))?;
    if !meta.is_dir() {
        return Err(CliError::input(format!("{}: not a directory", data_dir.display())));
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staged = tempfile::Builder::new()
        .prefix(".idaas-backup")
        .tempfile_in(parent)
        .map_err(|e| CliError::input(format!("{}: {e}", parent.display())))?;
    let gz = flate2::write::GzEncoder::new(
        staged.as_file().try_clone().map_err(write_err(out))?,
        flate2::Compression::default(),
    );
    let mut archive = Archiver { tar: tar::Builder::new(gz), files: Vec::new(), databases: Vec::new() };
    archive.walk(data_dir, "")?;
    let Archiver { mut tar, files, databases } = archive;
    let created = u64::try_from(service_kit::Clock::now(&service_kit::SystemClock)).unwrap_or(0);
    let manifest = Manifest {
        format: FORMAT,
        created,
        idaas_version: env!("CARGO_PKG_VERSION").into(),
        files,
        databases,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| CliError::failed(e.to_string()))?;
    append(&mut tar, MANIFEST, &json, 0o600)?;
    let gz = tar.into_inner().map_err(write_err(out))?;
    gz.finish().map_err(write_err(out))?.sync_all().map_err(write_err(out))?;
    staged.persist(out).map_err(|e| CliError::failed(format!("{}: {}", out.display(), e.error)))?;
    println!(
        "backed up {} to {}: {} files, {} databases ({} entries); the archive holds private keys \
         and password hashes: keep it as secret as the directory",
        data_dir.display(),
        out.display(),
        manifest.files.len(),
        manifest.databases.len(),
        manifest.databases.iter().filter_map(|d| d.entries).sum::<u64>(),
    );
    Ok(())
}

fn write_err(out: &Path) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |e| CliError::failed(format!("{}: {e}", out.display()))
}

fn append(tar: &mut tar::Builder<impl Write>, path: &str, bytes: &[u8], mode: u32) -> Result<(), CliError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, bytes).map_err(|e| CliError::failed(format!("archive: {e}")))
}

struct Archiver<W: Write> {
    tar: tar::Builder<W>,
    files: Vec<Item>,
    databases: Vec<Item>,
}

impl<W: Write> Archiver<W> {
    fn walk(&mut self, dir: &Path, rel: &str) -> Result<(), CliError> {
        let read = |e: std::io::Error| CliError::failed(format!("{}: {e}", dir.display()));
        let mut entries: Vec<_> =
            std::fs::read_dir(dir).map_err(read)?.collect::<Result<_, _>>().map_err(read)?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                eprintln!("idaas: skipped {} (not a UTF-8 name)", path.display());
                continue;
            };
            let rel = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let kind = std::fs::symlink_metadata(&path).map_err(read)?.file_type();
            if kind.is_dir() && is_sled_db(&path) {
                self.database(&path, &rel)?;
            } else if kind.is_dir() {
                self.walk(&path, &rel)?;
            } else if kind.is_file() && !(name.starts_with('.') && name.ends_with(".tmp")) {
                self.file(&path, &rel)?;
            } else if kind.is_symlink() {
                // Never followed: a link could lead the backup out of the directory.
                eprintln!("idaas: skipped {} (a symbolic link)", path.display());
            }
            // Sockets (the backup socket itself) and leftovers of interrupted atomic writes
            // are not data.
        }
        Ok(())
    }

    fn file(&mut self, path: &Path, rel: &str) -> Result<(), CliError> {
        let fail = |e: std::io::Error| CliError::failed(format!("{}: {e}", path.display()));
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(crate::files::MAX_INPUT).read_to_end(&mut bytes))
            .map_err(fail)?;
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(path).map_err(fail)?.permissions().mode();
            // Only two modes come back: private, or readable by all (metadata, certificates).
            if m & 0o044 == 0o044 {
                0o644
            } else {
                0o600
            }
        };
        append(&mut self.tar, &format!("files/{rel}"), &bytes, mode)?;
        self.files.push(Item {
            path: rel.to_owned(),
            bytes: bytes.len() as u64,
            sha256: hex_sha256(&bytes),
            mode: Some(mode),
            entries: None,
        });
        Ok(())
    }

    fn database(&mut self, dir: &Path, rel: &str) -> Result<(), CliError> {
        let mut staged =
            tempfile::tempfile().map_err(|e| CliError::failed(format!("temporary file: {e}")))?;
        let entries = snapshot_of(dir, &mut staged)?;
        staged.rewind().map_err(|e| CliError::failed(e.to_string()))?;
        let mut hasher = sha2::Sha256::new();
        let bytes = std::io::copy(&mut (&staged), &mut HashWriter(&mut hasher))
            .map_err(|e| CliError::failed(e.to_string()))?;
        staged.rewind().map_err(|e| CliError::failed(e.to_string()))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        self.tar
            .append_data(&mut header, format!("sled/{rel}"), &staged)
            .map_err(|e| CliError::failed(format!("archive: {e}")))?;
        self.databases.push(Item {
            path: rel.to_owned(),
            bytes,
            sha256: hex::encode(hasher.finalize()),
            mode: None,
            entries: Some(entries),
        });
        Ok(())
    }
}

/// A snapshot of the database in `dir`: from the service running on it, else read directly.
fn snapshot_of(dir: &Path, out: &mut std::fs::File) -> Result<u64, CliError> {
    use service_kit::backup::control::FetchError;
    match service_kit::backup::fetch_snapshot(dir, out) {
        Ok(_) => return count_entries(out),
        Err(FetchError::NotRunning(_)) => {}
        Err(e) => {
            return Err(CliError::failed(format!(
                "the service running on {} refused the backup: {e}",
                dir.display()
            )))
        }
    }
    let db = service_kit::store::open_db(&sled::Config::new().path(dir)).map_err(|e| {
        CliError::failed(format!(
            "{}: {e} (a process holds the database but answers no backup socket: stop it, or back up while it serves)",
            dir.display()
        ))
    })?;
    service_kit::backup::write_snapshot(&db, &Default::default(), out)
        .map_err(|e| CliError::failed(format!("{}: {e}", dir.display())))
}

/// The entry count at the end of a snapshot file (its last 8 bytes).
fn count_entries(file: &mut std::fs::File) -> Result<u64, CliError> {
    let mut count = [0u8; 8];
    file.seek(std::io::SeekFrom::End(-8))
        .and_then(|_| file.read_exact(&mut count))
        .map_err(|e| CliError::failed(format!("snapshot: {e}")))?;
    Ok(u64::from_be_bytes(count))
}

pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Feeds what is written into a hash.
pub(crate) struct HashWriter<'a>(pub(crate) &'a mut sha2::Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The path of `rel` (`/`-separated, as in the manifest) under `root`.
pub fn under(root: &Path, rel: &str) -> PathBuf {
    rel.split('/').fold(root.to_owned(), |p, c| p.join(c))
}
