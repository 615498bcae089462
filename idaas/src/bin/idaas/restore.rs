//! `idaas restore --in FILE --data-dir DIR`: a data directory back from an `idaas backup`
//! archive (docs/operations.md#backups).
//!
//! Everything is unpacked into a private staging directory beside DIR and checked against the
//! manifest (every file and snapshot present, nothing more, each SHA-256 equal, snapshots
//! whole); only then is the staging directory renamed to DIR. A truncated, altered or hostile
//! archive (paths leaving the directory, links, devices, duplicates) is refused and leaves
//! nothing behind. DIR must not exist or be empty: a restore never mixes with live data.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use sha2::Digest as _;

use crate::backup::{hex_sha256, under, HashWriter, Item, Manifest, FORMAT, MANIFEST};
use crate::error::CliError;

/// Largest manifest read (a directory of a million files needs far less).
const MAX_MANIFEST: u64 = 64 * 1024 * 1024;

/// Runs `idaas restore`.
pub fn run(input: &Path, data_dir: &Path) -> Result<(), CliError> {
    match std::fs::read_dir(data_dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) => {
            return Err(CliError::input(format!(
                "{}: not empty; restore into a new directory (nothing was changed)",
                data_dir.display()
            )));
        }
        Ok(false) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::input(format!("{}: {e}", data_dir.display()))),
    }
    let file =
        std::fs::File::open(input).map_err(|e| CliError::input(format!("{}: {e}", input.display())))?;
    let parent = data_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| CliError::input(format!("{}: {e}", parent.display())))?;
    // tempfile creates it 0700 and removes it on every early return.
    let staging = tempfile::Builder::new()
        .prefix(".idaas-restore")
        .tempdir_in(parent)
        .map_err(|e| CliError::failed(format!("{}: {e}", parent.display())))?;
    let manifest = unpack(file, staging.path())
        .map_err(|e| CliError::input(format!("{}: {e} (nothing was restored)", input.display())))?;
    if data_dir.exists() {
        std::fs::remove_dir(data_dir)
            .map_err(|e| CliError::failed(format!("{}: {e}", data_dir.display())))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, data_dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        CliError::failed(format!("{}: {e}", data_dir.display()))
    })?;
    println!(
        "restored {} into {}: {} files, {} databases, backed up at {} by idaas {}",
        input.display(),
        data_dir.display(),
        manifest.files.len(),
        manifest.databases.len(),
        manifest.created,
        manifest.idaas_version
    );
    Ok(())
}

/// Unpacks the archive into `root` and checks it against its manifest.
fn unpack(file: std::fs::File, root: &Path) -> Result<Manifest, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut files = BTreeMap::new();
    let mut databases = BTreeMap::new();
    let mut manifest = None;
    for entry in archive.entries().map_err(|e| format!("not a backup archive: {e}"))? {
        let mut entry = entry.map_err(|e| format!("not a whole backup archive: {e}"))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err("the archive holds something other than regular files".into());
        }
        let path = entry.path().map_err(|e| format!("an entry's path: {e}"))?.into_owned();
        let rel = checked_path(&path)?;
        if manifest.is_some() {
            return Err("entries follow the manifest".into());
        }
        if rel == MANIFEST {
            let mut json = Vec::new();
            (&mut entry).take(MAX_MANIFEST + 1).read_to_end(&mut json).map_err(|e| e.to_string())?;
            if json.len() as u64 > MAX_MANIFEST {
                return Err("the manifest is too large".into());
            }
            manifest =
                Some(serde_json::from_slice::<Manifest>(&json).map_err(|e| format!("the manifest: {e}"))?);
        } else if let Some(rel) = rel.strip_prefix("files/") {
            let item = restore_file(&mut entry, root, rel)?;
            if files.insert(rel.to_owned(), item).is_some() {
                return Err(format!("{rel} appears twice"));
            }
        } else if let Some(rel) = rel.strip_prefix("sled/") {
            let item = restore_database(&mut entry, root, rel)?;
            if databases.insert(rel.to_owned(), item).is_some() {
                return Err(format!("{rel} appears twice"));
            }
        } else {
            return Err(format!("unexpected entry {rel}"));
        }
    }
    let manifest = manifest.ok_or("the manifest is missing (a truncated archive)")?;
    if manifest.format != FORMAT {
        return Err(format!("archive format {} (this build reads {FORMAT})", manifest.format));
    }
    compare("file", &manifest.files, &files)?;
    compare("database", &manifest.databases, &databases)?;
    // A file inside a database directory (or a database inside another) would be read by
    // sled as its own: never made by `idaas backup`, refused.
    for db in databases.keys() {
        let inside = |p: &String| p == db || p.starts_with(&format!("{db}/"));
        if files.keys().any(inside) || databases.keys().filter(|d| *d != db).any(inside) {
            return Err(format!("{db}: other entries inside a database directory"));
        }
    }
    apply_modes(root, &manifest.files)?;
    Ok(manifest)
}

/// The archive path as a `/`-separated relative path of plain names; anything that could
/// leave the staging directory (absolute, `..`, empty) is refused.
fn checked_path(path: &Path) -> Result<String, String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str().ok_or("a path that is not UTF-8")?),
            _ => return Err(format!("{}: not a plain relative path", path.display())),
        }
    }
    if parts.is_empty() {
        return Err("an empty path".into());
    }
    Ok(parts.join("/"))
}

fn create_parent(path: &Path) -> Result<(), String> {
    let Some(dir) = path.parent() else { return Ok(()) };
    let mut b = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(b.recursive(true), 0o700);
    b.create(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

fn restore_file(entry: &mut impl Read, root: &Path, rel: &str) -> Result<Item, String> {
    let target = under(root, rel);
    create_parent(&target)?;
    let mut bytes = Vec::new();
    entry.take(crate::files::MAX_INPUT + 1).read_to_end(&mut bytes).map_err(|e| format!("{rel}: {e}"))?;
    if bytes.len() as u64 > crate::files::MAX_INPUT {
        return Err(format!("{rel}: larger than a data file can be"));
    }
    let item = Item {
        path: rel.to_owned(),
        bytes: bytes.len() as u64,
        sha256: hex_sha256(&bytes),
        mode: None,
        entries: None,
    };
    // 0600 until the manifest says otherwise (checked in `compare`, applied after).
    service_kit::files::write_private(&target, &bytes, 0o600).map_err(|e| format!("{rel}: {e}"))?;
    Ok(item)
}

fn restore_database(entry: &mut impl Read, root: &Path, rel: &str) -> Result<Item, String> {
    let dir = under(root, rel);
    create_parent(&dir)?;
    service_kit::files::ensure_private_dir(&dir).map_err(|e| format!("{rel}: {e}"))?;
    let db = sled::Config::new().path(&dir).open().map_err(|e| format!("{rel}: {e}"))?;
    let mut hasher = sha2::Sha256::new();
    let mut counted = Counting { inner: entry, hasher: &mut hasher, bytes: 0 };
    let entries = service_kit::backup::read_snapshot(&db, &mut counted).map_err(|e| format!("{rel}: {e}"))?;
    let bytes = counted.bytes;
    Ok(Item {
        path: rel.to_owned(),
        bytes,
        sha256: hex::encode(hasher.finalize()),
        mode: None,
        entries: Some(entries),
    })
}

/// Reads through, hashing and counting.
struct Counting<'a, R> {
    inner: R,
    hasher: &'a mut sha2::Sha256,
    bytes: u64,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or_default();
        std::io::Write::write_all(&mut HashWriter(self.hasher), read)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The manifest's items and the unpacked ones must be the same, digest for digest; then the
/// files get the manifest's modes.
fn compare(kind: &str, listed: &[Item], found: &BTreeMap<String, Item>) -> Result<(), String> {
    if listed.len() != found.len() {
        return Err(format!(
            "the manifest lists {} {kind}s, the archive holds {}",
            listed.len(),
            found.len()
        ));
    }
    for item in listed {
        let got = found.get(&item.path).ok_or_else(|| format!("{kind} {} is missing", item.path))?;
        if got.sha256 != item.sha256 || got.bytes != item.bytes {
            return Err(format!("{kind} {} does not match its digest (altered or damaged)", item.path));
        }
        if kind == "database" && got.entries != item.entries {
            return Err(format!("database {} has another number of entries than listed", item.path));
        }
    }
    Ok(())
}

/// Gives the restored files the modes the manifest records (0600 or 0644 only).
fn apply_modes(root: &Path, files: &[Item]) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    for f in files {
        let mode = if f.mode == Some(0o644) { 0o644 } else { 0o600 };
        std::fs::set_permissions(under(root, &f.path), std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", f.path))?;
    }
    Ok(())
}
