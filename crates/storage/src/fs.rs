//! All file I/O goes through this trait: local files now, a fault-injecting layer in tests, an object store
//! later (design.md section 5).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Result, StorageError};

/// A file being appended to (WAL segments, SSTs while written).
pub trait AppendFile: Send {
    fn append(&mut self, data: &[u8]) -> Result<()>;
    fn sync(&mut self) -> Result<()>;
}

/// A file open for positioned reads (SSTs keep one each).
pub trait ReadAt: Send + Sync {
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>>;
}

pub trait FileSystem: Send + Sync {
    /// Opens a file for positioned reads.
    fn open_read(&self, path: &Path) -> Result<Box<dyn ReadAt>>;
    /// Creates (truncating) a file for appending, mode 0600.
    fn create(&self, path: &Path) -> Result<Box<dyn AppendFile>>;
    /// Opens an existing file for appending at its end.
    fn append_to(&self, path: &Path) -> Result<Box<dyn AppendFile>>;
    fn read_all(&self, path: &Path) -> Result<Vec<u8>>;
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>>;
    fn size(&self, path: &Path) -> Result<u64>;
    /// Atomically replaces `to` with `from`, and makes the rename durable.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    fn remove(&self, path: &Path) -> Result<()>;
    fn truncate(&self, path: &Path, len: u64) -> Result<()>;
    fn list(&self, dir: &Path) -> Result<Vec<String>>;
    fn exists(&self, path: &Path) -> bool;
    fn create_dir_all(&self, dir: &Path) -> Result<()>;

    /// Writes a whole file durably under a temporary name, then renames it into place.
    fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<()> {
        let tmp = path.with_extension("tmp");
        let mut f = self.create(&tmp)?;
        f.append(data)?;
        f.sync()?;
        drop(f);
        self.rename(&tmp, path)
    }
}

pub struct LocalFs;

struct LocalReader {
    path: PathBuf,
    file: File,
}

impl ReadAt for LocalReader {
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(StorageError::io(&self.path))?;
        Ok(buf)
    }
}

struct LocalFile {
    path: PathBuf,
    file: File,
}

impl AppendFile for LocalFile {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.file.write_all(data).map_err(StorageError::io(&self.path))
    }

    fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(StorageError::io(&self.path))
    }
}

fn sync_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(StorageError::io(dir))?;
    }
    Ok(())
}

impl FileSystem for LocalFs {
    fn open_read(&self, path: &Path) -> Result<Box<dyn ReadAt>> {
        let file = File::open(path).map_err(StorageError::io(path))?;
        Ok(Box::new(LocalReader {
            path: path.to_owned(),
            file,
        }))
    }

    fn create(&self, path: &Path) -> Result<Box<dyn AppendFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(StorageError::io(path))?;
        Ok(Box::new(LocalFile {
            path: path.to_owned(),
            file,
        }))
    }

    fn append_to(&self, path: &Path) -> Result<Box<dyn AppendFile>> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(StorageError::io(path))?;
        Ok(Box::new(LocalFile {
            path: path.to_owned(),
            file,
        }))
    }

    fn read_all(&self, path: &Path) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut buf))
            .map_err(StorageError::io(path))?;
        Ok(buf)
    }

    fn read_at(&self, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
        let f = File::open(path).map_err(StorageError::io(path))?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset).map_err(StorageError::io(path))?;
        Ok(buf)
    }

    fn size(&self, path: &Path) -> Result<u64> {
        std::fs::metadata(path).map(|m| m.len()).map_err(StorageError::io(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(StorageError::io(to))?;
        sync_dir(to)
    }

    fn remove(&self, path: &Path) -> Result<()> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(path)(e)),
        }
    }

    fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(StorageError::io(path))?;
        f.set_len(len)
            .and_then(|_| f.sync_all())
            .map_err(StorageError::io(path))
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).map_err(StorageError::io(dir))? {
            let e = e.map_err(StorageError::io(dir))?;
            if let Some(n) = e.file_name().to_str() {
                out.push(n.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(StorageError::io(dir))
    }
}

pub fn local() -> Arc<dyn FileSystem> {
    Arc::new(LocalFs)
}
