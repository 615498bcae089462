//! The snapshot stream of a sled database: every tree, every key and value, in order.
//!
//! ```text
//! "IDAAS-SLED-SNAPSHOT 1\n"
//! ( 'T' len:u32 name                      -- a tree; the entries that follow belong to it
//! | 'E' len:u32 key len:u32 value )*      -- an entry
//! 'Z' entries:u64                         -- the end, with the number of entries
//! ```
//!
//! Lengths are big-endian. Reading checks everything: the magic, a tree before any entry,
//! each length against [`MAX_FIELD`], the count, and that nothing follows the end; a damaged
//! or truncated snapshot is an error, never a partial database silently taken for whole.

use std::io::{self, BufRead, BufReader, Read, Write};

use super::SnapshotGate;

/// First bytes of every snapshot.
pub const MAGIC: &[u8] = b"IDAAS-SLED-SNAPSHOT 1\n";

/// Longest tree name, key or value a snapshot may hold (far above every record the stores
/// write; it only bounds what a damaged or hostile file can make the reader allocate).
pub const MAX_FIELD: usize = 64 * 1024 * 1024;

/// Why a snapshot could not be read or restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sled::Error),
    /// The bytes are not a whole, well-formed snapshot.
    #[error("not a valid idaas database snapshot: {0}")]
    Malformed(&'static str),
}

/// Writes a consistent snapshot of `db` to `out` (holding `gate` frozen while it reads);
/// returns the number of entries. The database is flushed first, so the snapshot never holds
/// a write that a crash right after would lose.
pub fn write_snapshot(db: &sled::Db, gate: &SnapshotGate, out: &mut dyn Write) -> Result<u64, SnapshotError> {
    let _frozen = gate.frozen();
    db.flush()?;
    let mut out = io::BufWriter::new(out);
    out.write_all(MAGIC)?;
    let mut names = db.tree_names();
    names.sort();
    let mut entries = 0u64;
    for name in names {
        let tree = db.open_tree(&name)?;
        write_record(&mut out, b'T', &[&name])?;
        for kv in tree.iter() {
            let (k, v) = kv?;
            write_record(&mut out, b'E', &[&k, &v])?;
            entries += 1;
        }
    }
    out.write_all(b"Z")?;
    out.write_all(&entries.to_be_bytes())?;
    out.flush()?;
    Ok(entries)
}

fn write_record(out: &mut impl Write, tag: u8, fields: &[&[u8]]) -> io::Result<()> {
    out.write_all(&[tag])?;
    for f in fields {
        let len = u32::try_from(f.len()).ok().filter(|&l| l as usize <= MAX_FIELD).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "a record is larger than a snapshot can hold")
        })?;
        out.write_all(&len.to_be_bytes())?;
        out.write_all(f)?;
    }
    Ok(())
}

/// Reads a snapshot from `input` into `db` (a new, empty database), then flushes it; returns
/// the number of entries. On error, `db` may hold part of the snapshot: callers restore into
/// a staging directory and throw it away on error.
pub fn read_snapshot(db: &sled::Db, input: &mut dyn Read) -> Result<u64, SnapshotError> {
    let mut input = BufReader::new(input);
    let mut magic = [0u8; MAGIC.len()];
    read_exact(&mut input, &mut magic)?;
    if magic != MAGIC {
        return Err(SnapshotError::Malformed("it does not start with the snapshot header"));
    }
    let mut tree: Option<sled::Tree> = None;
    let mut entries = 0u64;
    loop {
        let mut tag = [0u8; 1];
        read_exact(&mut input, &mut tag)?;
        match tag[0] {
            b'T' => {
                let name = read_field(&mut input)?;
                tree = Some(db.open_tree(name)?);
            }
            b'E' => {
                let t = tree.as_ref().ok_or(SnapshotError::Malformed("an entry before any tree"))?;
                let (k, v) = (read_field(&mut input)?, read_field(&mut input)?);
                t.insert(k, v)?;
                entries += 1;
            }
            b'Z' => {
                let mut count = [0u8; 8];
                read_exact(&mut input, &mut count)?;
                if u64::from_be_bytes(count) != entries {
                    return Err(SnapshotError::Malformed("the entry count does not match"));
                }
                if !input.fill_buf()?.is_empty() {
                    return Err(SnapshotError::Malformed("bytes follow the end"));
                }
                db.flush()?;
                return Ok(entries);
            }
            _ => return Err(SnapshotError::Malformed("unknown record")),
        }
    }
}

fn read_exact(input: &mut impl Read, buf: &mut [u8]) -> Result<(), SnapshotError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => SnapshotError::Malformed("it is truncated"),
        _ => SnapshotError::Io(e),
    })
}

fn read_field(input: &mut impl Read) -> Result<Vec<u8>, SnapshotError> {
    let mut len = [0u8; 4];
    read_exact(input, &mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FIELD {
        return Err(SnapshotError::Malformed("a record is longer than the limit"));
    }
    let mut field = Vec::new();
    // Grown as bytes arrive: a hostile length alone allocates nothing.
    let read = input.take(len as u64).read_to_end(&mut field)?;
    if read != len {
        return Err(SnapshotError::Malformed("it is truncated"));
    }
    Ok(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> sled::Db {
        sled::Config::new().temporary(true).open().unwrap()
    }

    fn sample() -> sled::Db {
        let db = temp_db();
        db.insert(b"default-key", b"v0".as_slice()).unwrap();
        let users = db.open_tree("users").unwrap();
        users.insert(b"bob", b"{\"uid\":\"bob\"}".as_slice()).unwrap();
        users.insert(b"carol", vec![0u8; 300]).unwrap();
        db.open_tree("empty").unwrap();
        db
    }

    type Tree = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

    fn dump(db: &sled::Db) -> Vec<Tree> {
        let mut names = db.tree_names();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let t = db.open_tree(&n).unwrap();
                (n.to_vec(), t.iter().map(|kv| kv.unwrap()).map(|(k, v)| (k.to_vec(), v.to_vec())).collect())
            })
            .collect()
    }

    fn snapshot_of(db: &sled::Db) -> Vec<u8> {
        let mut out = Vec::new();
        write_snapshot(db, &SnapshotGate::default(), &mut out).unwrap();
        out
    }

    #[test]
    fn round_trip_keeps_every_tree_and_entry() {
        let db = sample();
        let bytes = snapshot_of(&db);
        let restored = temp_db();
        assert_eq!(read_snapshot(&restored, &mut bytes.as_slice()).unwrap(), 3);
        assert_eq!(dump(&db), dump(&restored));
    }

    #[test]
    fn every_truncation_and_damage_is_refused() {
        let bytes = snapshot_of(&sample());
        // Every strict prefix is an error, never a smaller database taken for whole.
        let scratch = temp_db();
        for cut in 0..bytes.len() {
            let r = read_snapshot(&scratch, &mut &bytes[..cut]);
            assert!(matches!(r, Err(SnapshotError::Malformed(_))), "prefix of {cut} bytes: {r:?}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            read_snapshot(&temp_db(), &mut trailing.as_slice()),
            Err(SnapshotError::Malformed(_))
        ));
        let mut count = bytes.clone();
        let last = count.len() - 1;
        count[last] ^= 1;
        assert!(matches!(read_snapshot(&temp_db(), &mut count.as_slice()), Err(SnapshotError::Malformed(_))));
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert!(matches!(read_snapshot(&temp_db(), &mut magic.as_slice()), Err(SnapshotError::Malformed(_))));
        // An entry before any tree; an unknown tag; a length beyond the limit.
        for body in [&b"E\0\0\0\x01k\0\0\0\x01v"[..], b"Q", b"T\xff\xff\xff\xff"] {
            let hostile = [MAGIC, body].concat();
            assert!(matches!(
                read_snapshot(&temp_db(), &mut hostile.as_slice()),
                Err(SnapshotError::Malformed(_))
            ));
        }
    }

    #[test]
    fn a_snapshot_waits_for_the_write_in_flight() {
        let db = temp_db();
        let gate = std::sync::Arc::new(SnapshotGate::default());
        let writing = gate.writing();
        let (db2, gate2) = (db.clone(), gate.clone());
        let snap = std::thread::spawn(move || {
            let mut out = Vec::new();
            write_snapshot(&db2, &gate2, &mut out).unwrap();
            out
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        // Two halves of one write: the snapshot must see both or neither.
        db.insert(b"a", b"1".as_slice()).unwrap();
        db.insert(b"b", b"1".as_slice()).unwrap();
        drop(writing);
        let bytes = snap.join().unwrap();
        let restored = temp_db();
        read_snapshot(&restored, &mut bytes.as_slice()).unwrap();
        assert_eq!(restored.len(), 2, "the snapshot was taken after the whole write");
    }
}
