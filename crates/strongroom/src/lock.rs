//! One server per data directory: `serve` holds an exclusive lock on `DATA_DIR/LOCK` for as long as it
//! runs. Two servers on one directory would each append to the same logs and replace each other's sealed
//! documents, losing acknowledged writes; the second one is refused at start instead.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use anyhow::Context;

pub const FILE: &str = "LOCK";

/// Held for the life of the process; the lock goes with the file handle (and with the process, if it dies).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Takes the data directory's lock, or says which directory is in use.
pub fn acquire(data_dir: &Path) -> anyhow::Result<DataDirLock> {
    try_acquire(data_dir)?.ok_or_else(|| {
        anyhow::anyhow!(
            "the data directory {} is in use by another strongroom process; stop it first",
            data_dir.display()
        )
    })
}

/// Takes the data directory's lock if no one holds it; `None` while a server does.
pub fn try_acquire(data_dir: &Path) -> anyhow::Result<Option<DataDirLock>> {
    let path = data_dir.join(FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(DataDirLock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        assert!(try_acquire(dir.path()).unwrap().is_some());
        let first = acquire(dir.path()).unwrap();
        assert!(try_acquire(dir.path()).unwrap().is_none());
        let refused = acquire(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("is in use by another strongroom process"), "{refused}");
        drop(first);
        let again = try_acquire(dir.path()).unwrap();
        assert!(again.is_some());
        drop(again);
        acquire(dir.path()).unwrap();
    }
}
