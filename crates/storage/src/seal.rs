//! Sealing blocks of a file under the file's own data key.
//!
//! Every sealed block is AES-256-GCM with nonce = `offset (u64 BE) || kind || 0 0 0` and
//! AAD = `file id || offset || kind`. A data key seals exactly one file and offsets within a file are
//! unique, so nonces never repeat under a key; a block moved to another offset, kind or file fails.
//!
//! Each file starts with a 32-byte plaintext header:
//!
//! ```text
//!  0         8          12         16          24         32
//!  | magic   | format   | reserved | file id   | key id   |
//! ```

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use base::SecretBytes;

use crate::error::{Result, StorageError};

pub const HEADER_LEN: usize = 32;
pub const TAG_LEN: usize = 16;
pub const FORMAT_V1: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    WalRecord = 1,
    SstData = 2,
    SstIndex = 3,
    Manifest = 4,
}

/// A plaintext data key, ready to seal. Its bytes were zeroized once the cipher was keyed.
pub struct DataKey {
    pub id: u64,
    key: LessSafeKey,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({}, <redacted>)", self.id)
    }
}

impl DataKey {
    pub fn new(id: u64, bytes: &SecretBytes) -> Result<DataKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes.expose()).map_err(|_| StorageError::WrongTableKey)?;
        Ok(DataKey {
            id,
            key: LessSafeKey::new(unbound),
        })
    }

    fn nonce(offset: u64, kind: Kind) -> Nonce {
        let mut n = [0u8; 12];
        n[..8].copy_from_slice(&offset.to_be_bytes());
        n[8] = kind as u8;
        Nonce::assume_unique_for_key(n)
    }

    fn aad(file_id: u64, offset: u64, kind: Kind) -> [u8; 17] {
        let mut a = [0u8; 17];
        a[..8].copy_from_slice(&file_id.to_be_bytes());
        a[8..16].copy_from_slice(&offset.to_be_bytes());
        a[16] = kind as u8;
        a
    }

    pub fn seal(&self, file_id: u64, offset: u64, kind: Kind, plaintext: &[u8]) -> Vec<u8> {
        self.seal_owned(file_id, offset, kind, plaintext.to_vec())
    }

    /// [`DataKey::seal`] of a buffer the caller no longer needs: encrypted where it lies, no copy.
    pub fn seal_owned(&self, file_id: u64, offset: u64, kind: Kind, plaintext: Vec<u8>) -> Vec<u8> {
        let mut buf = plaintext;
        if cfg!(feature = "insecure-null-cipher") {
            buf.extend_from_slice(&[0u8; TAG_LEN]);
            return buf;
        }
        // Sealing with a valid key cannot fail; a failure would mean a broken library, so fail closed.
        if self
            .key
            .seal_in_place_append_tag(
                Self::nonce(offset, kind),
                Aad::from(Self::aad(file_id, offset, kind)),
                &mut buf,
            )
            .is_err()
        {
            buf.clear();
        }
        buf
    }

    pub fn open(&self, file_id: u64, offset: u64, kind: Kind, sealed: &[u8], file: &str) -> Result<Vec<u8>> {
        self.open_owned(file_id, offset, kind, sealed.to_vec(), file)
    }

    /// [`DataKey::open`] of a buffer the caller no longer needs: decrypted where it lies, no copy.
    pub fn open_owned(&self, file_id: u64, offset: u64, kind: Kind, sealed: Vec<u8>, file: &str) -> Result<Vec<u8>> {
        let mut buf = sealed;
        if cfg!(feature = "insecure-null-cipher") {
            let n = buf.len().checked_sub(TAG_LEN).ok_or_else(|| {
                StorageError::corrupt(file, format!("block at offset {offset}"), "shorter than a tag")
            })?;
            buf.truncate(n);
            return Ok(buf);
        }
        let n = self
            .key
            .open_in_place(
                Self::nonce(offset, kind),
                Aad::from(Self::aad(file_id, offset, kind)),
                &mut buf,
            )
            .map_err(|_| StorageError::corrupt(file, format!("block at offset {offset}"), "authentication failed"))?
            .len();
        buf.truncate(n);
        Ok(buf)
    }
}

pub fn header(magic: &[u8; 8], file_id: u64, key_id: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&FORMAT_V1.to_be_bytes());
    h[16..24].copy_from_slice(&file_id.to_be_bytes());
    h[24..32].copy_from_slice(&key_id.to_be_bytes());
    h
}

/// The data key id a file header names, whatever the file's kind.
pub fn header_key_id(bytes: &[u8]) -> Option<u64> {
    let raw: [u8; 8] = bytes.get(24..32)?.try_into().ok()?;
    Some(u64::from_be_bytes(raw))
}

/// `(file id, key id)` of a header with the expected magic.
pub fn parse_header(bytes: &[u8], magic: &[u8; 8], file: &str) -> Result<(u64, u64)> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != magic {
        return Err(StorageError::corrupt(file, "header", "bad magic"));
    }
    let format = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if format != FORMAT_V1 {
        return Err(StorageError::corrupt(
            file,
            "header",
            format!("unknown format {format}"),
        ));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[16..24]);
    let key = header_key_id(bytes).ok_or_else(|| StorageError::corrupt(file, "header", "truncated"))?;
    Ok((u64::from_be_bytes(id), key))
}
