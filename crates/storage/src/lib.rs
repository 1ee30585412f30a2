//! The encrypted storage engine (design.md section 5): a log-structured store in which every file has its
//! own data key, wrapped under the table key, and every WAL record and SST block is sealed with
//! AES-256-GCM. It knows nothing of DynamoDB, HTTP or KMS: the table key arrives through
//! [`TableKeyProvider`].
//!
//! Files in a table directory (formats in each module's docs):
//! - `KEYS` ([`keys`]): the table key's KMS blob and every data key, wrapped.
//! - `CURRENT` + `NNNNNNNNNN.manifest` ([`manifest`]): the live file set, sealed.
//! - `NNNNNNNNNN.wal` ([`wal`]): sealed write batches, in a file reserved ahead (the unwritten rest is zeros).
//! - `NNNNNNNNNN.sst` ([`sst`]): sealed sorted blocks and index.
//!
//! Level 0 holds flushed memtables; each deeper level is one sorted run ten times the size of the one above,
//! kept so by background threads ([`Options`] sets the sizes). `bench/storage-compare` (outside the
//! workspace) is the only place the `insecure-null-cipher` feature may be enabled.
//!
//! The only plaintext: fixed file headers and footers (magic, format, file id, key id, offsets), the
//! table key's blob (already ciphertext) and the name of the current manifest.

pub mod batch;
pub mod bloom;
pub mod cache;
pub mod codec;
mod engine;
pub mod error;
pub mod fs;
pub mod keys;
pub mod manifest;
pub mod memtable;
mod merge;
pub mod seal;
pub mod sst;
pub mod stats;
mod version;
pub mod wal;
pub mod warm;
pub mod write_buffer;

pub use batch::WriteBatch;
pub use engine::{Engine, FileReport, FileRole, Options, Range, Snapshot};
pub use error::{Result, StorageError};
pub use fs::{FileSystem, LocalFs};
pub use keys::TableKeyProvider;
pub use wal::Commit;
pub use write_buffer::WriteBuffers;
