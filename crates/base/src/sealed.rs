//! A sealed document: one serde value kept in one file, encrypted under the root key and replaced
//! atomically (write a temporary file, fsync, rename, fsync the directory).
//!
//! Control-plane state (identities, later KMS keys) is small and changes rarely, so it is rewritten whole.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::root_key::{RootKey, RootKeyError};

const MAGIC: &[u8; 8] = b"SRSEALD1";

#[derive(Debug, thiserror::Error)]
pub enum SealedError {
    #[error("sealed document {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sealed document {path}: {source}")]
    Crypto {
        path: String,
        #[source]
        source: RootKeyError,
    },
    #[error("sealed document {path} is not a Strongroom sealed document")]
    BadMagic { path: String },
    #[error("sealed document {path} does not decode: {source}")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

pub struct SealedStore<T> {
    path: PathBuf,
    /// Bound as AAD: a document sealed for one purpose does not open as another.
    name: String,
    key: Arc<RootKey>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> SealedStore<T> {
    pub fn new(path: PathBuf, name: &str, key: Arc<RootKey>) -> Self {
        Self {
            path,
            name: name.to_owned(),
            key,
            _t: PhantomData,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> SealedError {
        SealedError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    pub fn load(&self) -> Result<Option<T>, SealedError> {
        let raw = match std::fs::read(&self.path) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        if raw.len() < MAGIC.len() || &raw[..MAGIC.len()] != MAGIC {
            return Err(SealedError::BadMagic {
                path: self.path.display().to_string(),
            });
        }
        let plain = self
            .key
            .open(self.name.as_bytes(), &raw[MAGIC.len()..])
            .map_err(|source| SealedError::Crypto {
                path: self.path.display().to_string(),
                source,
            })?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|source| SealedError::Decode {
                path: self.path.display().to_string(),
                source,
            })
    }

    pub fn save(&self, value: &T) -> Result<(), SealedError> {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(|source| SealedError::Decode {
            path: self.path.display().to_string(),
            source,
        })?);
        let sealed = self
            .key
            .seal(self.name.as_bytes(), &plain)
            .map_err(|source| SealedError::Crypto {
                path: self.path.display().to_string(),
                source,
            })?;
        let tmp = self.path.with_extension("tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| self.io(e))?;
        f.write_all(MAGIC).map_err(|e| self.io(e))?;
        f.write_all(&sealed).map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| self.io(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_holds_no_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let key = Arc::new(RootKey::from_bytes(&[1u8; 32]).unwrap());
        let store: SealedStore<Vec<String>> = SealedStore::new(dir.path().join("doc"), "doc", key.clone());
        assert!(store.load().unwrap().is_none());
        store.save(&vec!["MARKER-PLAINTEXT".to_owned()]).unwrap();
        let raw = std::fs::read(dir.path().join("doc")).unwrap();
        assert!(!raw.windows(16).any(|w| w == b"MARKER-PLAINTEXT"));
        assert_eq!(store.load().unwrap().unwrap(), vec!["MARKER-PLAINTEXT".to_owned()]);
        let other: SealedStore<Vec<String>> = SealedStore::new(dir.path().join("doc"), "other", key);
        assert!(matches!(other.load(), Err(SealedError::Crypto { .. })));
    }
}
