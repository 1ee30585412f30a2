//! The table's key registry (`KEYS`): the table key's KMS ciphertext blob and every data key, wrapped under
//! the table key. One file, replaced atomically, so a key switch (new blob, every data key re-wrapped) is
//! one rename. Removing a file's data key from here is crypto-shredding.
//!
//! ```text
//! "SRKEYS01" | table id (16) | blob len u32 | blob | next key id u64 | count u32 |
//!     count x (key id u64 | wrapped: nonce 12 + key 32 + tag 16) | CRC32 of everything before
//! ```
//! A wrapped key is AES-256-GCM under the table key with AAD = "SRDEK" || table id || key id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use base::SecretBytes;

use crate::error::{Result, StorageError};
use crate::fs::FileSystem;
use crate::seal::DataKey;

const MAGIC: &[u8; 8] = b"SRKEYS01";
const WRAPPED_LEN: usize = 12 + 32 + 16;
pub const FILE: &str = "KEYS";

/// How the engine gets its table key: it hands over the blob it keeps and receives the plaintext key.
/// The engine never calls KMS itself; without the table key it opens nothing.
pub trait TableKeyProvider: Send + Sync {
    fn unwrap_table_key(&self, blob: &[u8]) -> std::result::Result<SecretBytes, String>;
}

struct State {
    blob: Vec<u8>,
    table_key: LessSafeKey,
    next_key_id: u64,
    wrapped: BTreeMap<u64, Vec<u8>>,
    keys: BTreeMap<u64, Arc<DataKey>>,
}

pub struct Registry {
    fs: Arc<dyn FileSystem>,
    path: PathBuf,
    table_id: [u8; 16],
    state: Mutex<State>,
}

fn cipher(table_key: &SecretBytes) -> Result<LessSafeKey> {
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, table_key.expose()).map_err(|_| StorageError::WrongTableKey)?,
    ))
}

fn aad(table_id: &[u8; 16], key_id: u64) -> Vec<u8> {
    let mut a = b"SRDEK".to_vec();
    a.extend_from_slice(table_id);
    a.extend_from_slice(&key_id.to_be_bytes());
    a
}

fn wrap(table_key: &LessSafeKey, table_id: &[u8; 16], key_id: u64, dek: &SecretBytes) -> Result<Vec<u8>> {
    let mut nonce = [0u8; 12];
    base::random::fill(&mut nonce).map_err(|_| StorageError::Random)?;
    let mut buf = dek.expose().to_vec();
    table_key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(table_id, key_id)),
            &mut buf,
        )
        .map_err(|_| StorageError::WrongTableKey)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    zeroize::Zeroize::zeroize(&mut buf);
    Ok(out)
}

fn unwrap(table_key: &LessSafeKey, table_id: &[u8; 16], key_id: u64, wrapped: &[u8]) -> Result<SecretBytes> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(StorageError::corrupt(
            FILE,
            format!("key {key_id}"),
            "wrapped key has the wrong length",
        ));
    }
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&wrapped[..12]);
    let mut buf = wrapped[12..].to_vec();
    let n = table_key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(table_id, key_id)),
            &mut buf,
        )
        .map_err(|_| StorageError::WrongTableKey)?
        .len();
    buf.truncate(n);
    Ok(SecretBytes::new(buf))
}

fn take<'a>(raw: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8]> {
    let end = pos
        .checked_add(n)
        .filter(|e| *e <= raw.len())
        .ok_or_else(|| StorageError::corrupt(FILE, format!("offset {pos}"), "truncated"))?;
    let s = &raw[*pos..end];
    *pos = end;
    Ok(s)
}

fn u32_at(raw: &[u8], pos: &mut usize) -> Result<u32> {
    let b = take(raw, pos, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(raw: &[u8], pos: &mut usize) -> Result<u64> {
    let b = take(raw, pos, 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_be_bytes(a))
}

/// The parts of a registry file, checked but not yet unwrapped.
pub struct Parsed {
    pub table_id: [u8; 16],
    pub blob: Vec<u8>,
    pub next_key_id: u64,
    pub wrapped: BTreeMap<u64, Vec<u8>>,
}

pub fn parse(raw: &[u8]) -> Result<Parsed> {
    if raw.len() < 12 || &raw[..8] != MAGIC {
        return Err(StorageError::corrupt(FILE, "header", "bad magic"));
    }
    let body = &raw[..raw.len() - 4];
    let crc = u32::from_be_bytes([
        raw[raw.len() - 4],
        raw[raw.len() - 3],
        raw[raw.len() - 2],
        raw[raw.len() - 1],
    ]);
    if crc32fast::hash(body) != crc {
        return Err(StorageError::corrupt(FILE, "trailer", "checksum mismatch"));
    }
    let mut pos = 8;
    let mut table_id = [0u8; 16];
    table_id.copy_from_slice(take(body, &mut pos, 16)?);
    let blob_len = u32_at(body, &mut pos)? as usize;
    let blob = take(body, &mut pos, blob_len)?.to_vec();
    let next_key_id = u64_at(body, &mut pos)?;
    let count = u32_at(body, &mut pos)?;
    let mut wrapped = BTreeMap::new();
    for _ in 0..count {
        let id = u64_at(body, &mut pos)?;
        wrapped.insert(id, take(body, &mut pos, WRAPPED_LEN)?.to_vec());
    }
    if pos != body.len() {
        return Err(StorageError::corrupt(FILE, format!("offset {pos}"), "trailing bytes"));
    }
    Ok(Parsed {
        table_id,
        blob,
        next_key_id,
        wrapped,
    })
}

impl Registry {
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(FILE)
    }

    /// A new registry for a new table.
    pub fn create(fs: Arc<dyn FileSystem>, dir: &Path, blob: Vec<u8>, table_key: &SecretBytes) -> Result<Registry> {
        let mut table_id = [0u8; 16];
        base::random::fill(&mut table_id).map_err(|_| StorageError::Random)?;
        let r = Registry {
            fs,
            path: Self::path_in(dir),
            table_id,
            state: Mutex::new(State {
                blob,
                table_key: cipher(table_key)?,
                next_key_id: 1,
                wrapped: BTreeMap::new(),
                keys: BTreeMap::new(),
            }),
        };
        {
            let st = r.lock();
            r.persist(&st)?;
        }
        Ok(r)
    }

    /// Opens the registry: the provider turns the stored blob into the table key, which must open every
    /// wrapped data key.
    pub fn open(fs: Arc<dyn FileSystem>, dir: &Path, provider: &dyn TableKeyProvider) -> Result<Registry> {
        let path = Self::path_in(dir);
        let p = parse(&fs.read_all(&path)?)?;
        let table_key = provider
            .unwrap_table_key(&p.blob)
            .map_err(StorageError::TableKeyUnavailable)?;
        let cipher = cipher(&table_key)?;
        let mut keys = BTreeMap::new();
        for (id, w) in &p.wrapped {
            keys.insert(
                *id,
                Arc::new(DataKey::new(*id, &unwrap(&cipher, &p.table_id, *id, w)?)?),
            );
        }
        Ok(Registry {
            fs,
            path,
            table_id: p.table_id,
            state: Mutex::new(State {
                blob: p.blob,
                table_key: cipher,
                next_key_id: p.next_key_id,
                wrapped: p.wrapped,
                keys,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, st: &State) -> Result<()> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&self.table_id);
        out.extend_from_slice(&(st.blob.len() as u32).to_be_bytes());
        out.extend_from_slice(&st.blob);
        out.extend_from_slice(&st.next_key_id.to_be_bytes());
        out.extend_from_slice(&(st.wrapped.len() as u32).to_be_bytes());
        for (id, w) in &st.wrapped {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(w);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        self.fs.write_atomic(&self.path, &out)
    }

    /// A fresh random data key, durable in the registry before it seals anything.
    pub fn new_key(&self) -> Result<Arc<DataKey>> {
        let mut st = self.lock();
        let id = st.next_key_id;
        let dek = base::random::secret_bytes(32).map_err(|_| StorageError::Random)?;
        let w = wrap(&st.table_key, &self.table_id, id, &dek)?;
        st.next_key_id += 1;
        st.wrapped.insert(id, w);
        let key = Arc::new(DataKey::new(id, &dek)?);
        st.keys.insert(id, key.clone());
        if let Err(e) = self.persist(&st) {
            st.wrapped.remove(&id);
            st.keys.remove(&id);
            return Err(e);
        }
        Ok(key)
    }

    pub fn get(&self, id: u64, file: &str) -> Result<Arc<DataKey>> {
        self.lock()
            .keys
            .get(&id)
            .cloned()
            .ok_or_else(|| StorageError::MissingKey {
                file: file.to_owned(),
                key_id: id,
            })
    }

    /// Forgets data keys whose files are gone: what they sealed can never be read again.
    pub fn remove(&self, ids: &[u64]) -> Result<()> {
        let mut st = self.lock();
        for id in ids {
            st.wrapped.remove(id);
            st.keys.remove(id);
        }
        self.persist(&st)
    }

    /// Replaces the table key: every data key re-wrapped under the new one, in one atomic switch. No data
    /// is rewritten, and readers and writers go on meanwhile.
    pub fn rewrap(&self, new_blob: Vec<u8>, new_table_key: &SecretBytes) -> Result<()> {
        let mut st = self.lock();
        let new_cipher = cipher(new_table_key)?;
        let mut rewrapped = BTreeMap::new();
        for (id, w) in &st.wrapped {
            let dek = unwrap(&st.table_key, &self.table_id, *id, w)?;
            rewrapped.insert(*id, wrap(&new_cipher, &self.table_id, *id, &dek)?);
        }
        let next = State {
            blob: new_blob,
            table_key: new_cipher,
            next_key_id: st.next_key_id,
            wrapped: rewrapped,
            keys: std::mem::take(&mut st.keys),
        };
        let mut old = std::mem::replace(&mut *st, next);
        if let Err(e) = self.persist(&st) {
            old.keys = std::mem::take(&mut st.keys);
            *st = old;
            return Err(e);
        }
        Ok(())
    }

    pub fn blob(&self) -> Vec<u8> {
        self.lock().blob.clone()
    }

    pub fn key_ids(&self) -> Vec<u64> {
        self.lock().keys.keys().copied().collect()
    }
}
