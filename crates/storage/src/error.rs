use std::path::PathBuf;

/// I/O failures, corruption and missing keys are distinct: a caller may retry the first, must never read
/// past the second, and must fetch the table key for the third.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A failed authentication tag, a bad checksum or a malformed structure. Never yields data.
    #[error("corruption in {file}, {at}: {detail}")]
    Corruption { file: String, at: String, detail: String },
    #[error("the data key {key_id} named by {file} is not in the key registry")]
    MissingKey { file: String, key_id: u64 },
    #[error("the table key does not open this table's key registry")]
    WrongTableKey,
    #[error("the table key could not be obtained: {0}")]
    TableKeyUnavailable(String),
    /// A write failed to reach the disk; the engine refuses further writes until reopened.
    #[error("the write-ahead log failed earlier and the engine must be reopened: {0}")]
    Poisoned(String),
    /// A background flush or compaction failed (the cause is logged); writes wait for it and get this.
    #[error("background maintenance failed: {0}")]
    Maintenance(String),
    #[error("unknown structure {0}")]
    UnknownStructure(String),
    #[error("the system random number generator failed")]
    Random,
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StorageError {
        let path = path.into();
        move |source| StorageError::Io { path, source }
    }

    pub(crate) fn corrupt(file: impl Into<String>, at: impl Into<String>, detail: impl Into<String>) -> StorageError {
        StorageError::Corruption {
            file: file.into(),
            at: at.into(),
            detail: detail.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;
