//! Manifest versions: which SSTs and WAL segments make up the table, sealed, with an atomic `CURRENT`
//! switch.
//!
//! ```text
//! header (32) | len u32 | sealed( next file id u64 | last seq u64 | wal id u64 |
//!     structures u32 x (id u32 | name len u32 | name) | tables u32 x (level u8 | file id u64) )
//! ```
//! `CURRENT` (plaintext) names the live manifest file: no keys, names or data.

use std::collections::BTreeMap;
use std::path::Path;

use crate::batch::Reader;
use crate::error::{Result, StorageError};
use crate::fs::FileSystem;
use crate::seal::{self, DataKey, Kind, HEADER_LEN};

pub const MAGIC: &[u8; 8] = b"SRMAN002";
pub const CURRENT: &str = "CURRENT";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub next_file_id: u64,
    pub last_seq: u64,
    /// The oldest WAL segment not yet flushed: recovery replays it and every later one.
    pub wal_id: u64,
    pub structures: BTreeMap<String, u32>,
    /// `(level, file id)`: level 0 in flush order (oldest first), deeper levels in key order.
    pub tables: Vec<(u8, u64)>,
}

pub fn file_name(id: u64) -> String {
    format!("{id:010}.manifest")
}

pub fn encode(m: &Manifest) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&m.next_file_id.to_be_bytes());
    out.extend_from_slice(&m.last_seq.to_be_bytes());
    out.extend_from_slice(&m.wal_id.to_be_bytes());
    out.extend_from_slice(&(m.structures.len() as u32).to_be_bytes());
    for (name, id) in &m.structures {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(&(m.tables.len() as u32).to_be_bytes());
    for (level, t) in &m.tables {
        out.push(*level);
        out.extend_from_slice(&t.to_be_bytes());
    }
    out
}

pub fn decode(raw: &[u8], file: &str) -> Result<Manifest> {
    let mut r = Reader::new(raw, file);
    let mut m = Manifest {
        next_file_id: r.u64()?,
        last_seq: r.u64()?,
        wal_id: r.u64()?,
        ..Default::default()
    };
    for _ in 0..r.u32()? {
        let id = r.u32()?;
        let len = r.u32()? as usize;
        let name = String::from_utf8(r.take(len)?.to_vec())
            .map_err(|_| StorageError::corrupt(file, "structures", "name is not UTF-8"))?;
        m.structures.insert(name, id);
    }
    for _ in 0..r.u32()? {
        let level = r.u8()?;
        m.tables.push((level, r.u64()?));
    }
    if !r.done() {
        return Err(StorageError::corrupt(file, "manifest", "trailing bytes"));
    }
    Ok(m)
}

/// Writes manifest `file_id` sealed under `key`, then points `CURRENT` at it.
pub fn install(fs: &dyn FileSystem, dir: &Path, file_id: u64, key: &DataKey, m: &Manifest) -> Result<()> {
    let mut out = seal::header(MAGIC, file_id, key.id).to_vec();
    let sealed = key.seal(file_id, HEADER_LEN as u64, Kind::Manifest, &encode(m));
    out.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
    out.extend_from_slice(&sealed);
    let path = dir.join(file_name(file_id));
    let mut f = fs.create(&path)?;
    f.append(&out)?;
    f.sync()?;
    drop(f);
    fs.write_atomic(&dir.join(CURRENT), format!("{}\n", file_name(file_id)).as_bytes())
}

/// Reads the manifest `CURRENT` names. Returns it with its file id and data key id.
pub fn load(
    fs: &dyn FileSystem,
    dir: &Path,
    key_for: &dyn Fn(u64) -> Result<std::sync::Arc<DataKey>>,
) -> Result<(Manifest, u64, u64)> {
    let current = fs.read_all(&dir.join(CURRENT))?;
    let name = String::from_utf8(current).map_err(|_| StorageError::corrupt(CURRENT, "file", "not UTF-8"))?;
    let name = name.trim();
    if !name.ends_with(".manifest") || name.contains('/') {
        return Err(StorageError::corrupt(CURRENT, "file", "does not name a manifest"));
    }
    let raw = fs.read_all(&dir.join(name))?;
    let (file_id, key_id) = seal::parse_header(&raw, MAGIC, name)?;
    if raw.len() < HEADER_LEN + 4 {
        return Err(StorageError::corrupt(name, "body", "truncated"));
    }
    let len = u32::from_be_bytes([raw[32], raw[33], raw[34], raw[35]]) as usize;
    if HEADER_LEN + 4 + len != raw.len() {
        return Err(StorageError::corrupt(name, "body", "length mismatch"));
    }
    let key = key_for(key_id)?;
    let plain = key.open(file_id, HEADER_LEN as u64, Kind::Manifest, &raw[HEADER_LEN + 4..], name)?;
    Ok((decode(&plain, name)?, file_id, key_id))
}
