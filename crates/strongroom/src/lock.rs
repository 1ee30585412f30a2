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
    let path = data_dir.join(FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "the data directory {} is in use by another strongroom process; stop it first",
            data_dir.display()
        ),
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// Whether a server holds the directory now (a probe: the lock is released at once).
pub fn in_use(data_dir: &Path) -> bool {
    match OpenOptions::new().write(true).open(data_dir.join(FILE)) {
        Ok(file) => matches!(file.try_lock(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!in_use(dir.path()));
        let first = acquire(dir.path()).unwrap();
        assert!(in_use(dir.path()));
        let refused = acquire(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("is in use by another strongroom process"), "{refused}");
        drop(first);
        assert!(!in_use(dir.path()));
        acquire(dir.path()).unwrap();
    }
}
