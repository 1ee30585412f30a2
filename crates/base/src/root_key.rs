//! The server's root key: the stand-in for KMS's HSMs (design.md section 4).
//!
//! 32 random bytes in a file of mode 0600. Everything the server keeps about identities and keys is sealed
//! under it with AES-256-GCM; the caller's AAD names what is sealed, so one sealed document can never be
//! swapped for another.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

use crate::random;

const KEY_LEN: usize = 32;
const FORMAT_V1: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum RootKeyError {
    #[error("root key file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("root key file {0} does not hold a 32-byte key")]
    BadLength(String),
    #[error("sealed data failed authentication (wrong root key, or the data was changed)")]
    Unauthentic,
    #[error("sealed data is truncated or of an unknown format")]
    Malformed,
    #[error("the system random number generator failed")]
    Random,
}

pub struct RootKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

impl RootKey {
    /// Loads the key at `path`, creating it (mode 0600) when it does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, RootKeyError> {
        let io = |source| RootKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match OpenOptions::new().read(true).open(path) {
            Ok(mut f) => {
                let mut buf = zeroize::Zeroizing::new(Vec::new());
                f.read_to_end(&mut buf).map_err(io)?;
                if buf.len() != KEY_LEN {
                    return Err(RootKeyError::BadLength(path.display().to_string()));
                }
                Self::from_bytes(&buf)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random::secret_bytes(KEY_LEN).map_err(|_| RootKeyError::Random)?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(io)?;
                f.write_all(bytes.expose()).map_err(io)?;
                f.sync_all().map_err(io)?;
                Self::from_bytes(bytes.expose())
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RootKeyError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| RootKeyError::BadLength("<memory>".into()))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// `version || nonce || ciphertext || tag`, with `aad` bound.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, RootKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        random::fill(&mut nonce).map_err(|_| RootKeyError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)
            .map_err(|_| RootKeyError::Unauthentic)?;
        out.extend_from_slice(&body);
        zeroize::Zeroize::zeroize(&mut body);
        Ok(out)
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, RootKeyError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != FORMAT_V1 {
            return Err(RootKeyError::Malformed);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
        let mut body = zeroize::Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
        let len = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)
            .map_err(|_| RootKeyError::Unauthentic)?
            .len();
        body.truncate(len);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_with_mode_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("root.key");
        let k1 = RootKey::load_or_create(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let sealed = k1.seal(b"doc", b"secret").unwrap();
        let k2 = RootKey::load_or_create(&p).unwrap();
        assert_eq!(&k2.open(b"doc", &sealed).unwrap()[..], b"secret");
    }

    #[test]
    fn wrong_aad_or_flipped_bit_is_refused() {
        let k = RootKey::from_bytes(&[7u8; 32]).unwrap();
        let sealed = k.seal(b"doc", b"secret").unwrap();
        assert!(matches!(k.open(b"other", &sealed), Err(RootKeyError::Unauthentic)));
        for i in 0..sealed.len() {
            let mut s = sealed.clone();
            s[i] ^= 1;
            assert!(k.open(b"doc", &s).is_err(), "bit flip at {i} accepted");
        }
    }
}
