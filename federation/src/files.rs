//! Files that hold secrets: created with restrictive modes, written atomically and fsynced, so a
//! crash never leaves a half-written key and no other user can read one.

use std::fs;
use std::io::Write as _;
use std::path::Path;

/// Writes `data` to `path` through a temporary file created with `mode` (0600 for secrets),
/// fsynced, then renamed over `path`. The temporary file is `.<name>.tmp` beside it: hidden, and
/// never the name of a sibling (`key.tmp` would be clobbered by writing `key.pem`), and distinct
/// for `a.msk` and `a.pk` (the CLI writes both; it used this naming before it shared this writer).
pub fn write_private(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path does not end in a file name")
    })?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// Creates `dir` and its parents with mode 0700 when missing.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_private_and_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        ensure_private_dir(&sub).unwrap();
        let key = sub.join("k");
        write_private(&key, b"one", 0o600).unwrap();
        write_private(&key, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"two");
        assert!(!sub.join(".k.tmp").exists());
        let sibling = sub.join("k2.tmp");
        fs::write(&sibling, b"keep").unwrap();
        write_private(&sub.join("k2.pem"), b"three", 0o600).unwrap();
        assert_eq!(fs::read(&sibling).unwrap(), b"keep", "a sibling named like the old temp file survives");
        assert!(write_private(&sub.join(".."), b"x", 0o600).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(fs::metadata(&sub).unwrap().permissions().mode() & 0o777, 0o700);
        }
    }
}
