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
    /// Makes the file at least `len` bytes long, the new part a hole that reads as zeros, without moving
    /// where the next append goes. An fsync after an append inside the file's length has no new size to
    /// make durable, which on ext4 made a WAL commit about a third cheaper (8,000 against 5,400
    /// fdatasyncs/s on the benchmark machine). A file system that cannot may do nothing.
    fn reserve(&mut self, len: u64) -> Result<()>;
    /// Writes zeros from the file's end up to `len` bytes, without moving where the next append goes. An
    /// append over written blocks allocates nothing, so its fsync has no allocation to make durable: on
    /// ext4, WAL fsyncs over written zeros took about a sixth less time than over a hole. A file system
    /// that cannot may reserve instead.
    fn zero_fill(&mut self, len: u64) -> Result<()> {
        self.reserve(len)
    }
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

/// Opens a file for reading that our reads should not touch the access time of. On Linux every read
/// otherwise checks whether atime is due (`touch_atime`: close to 1% of a server's CPU in a profile of point
/// reads that miss the block cache, under relatime). The kernel refuses `O_NOATIME` to a process that does
/// not own the file; then the file opens as usual.
fn open_without_atime(path: &Path) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        match OpenOptions::new().read(true).custom_flags(libc::O_NOATIME).open(path) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            other => return other,
        }
    }
    File::open(path)
}

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
        faults::before_append(data.len()).map_err(StorageError::io(&self.path))?;
        self.file.write_all(data).map_err(StorageError::io(&self.path))
    }

    fn sync(&mut self) -> Result<()> {
        faults::before_sync().map_err(StorageError::io(&self.path))?;
        self.file.sync_data().map_err(StorageError::io(&self.path))
    }

    fn reserve(&mut self, len: u64) -> Result<()> {
        let now = self.file.metadata().map_err(StorageError::io(&self.path))?.len();
        if now < len {
            self.file.set_len(len).map_err(StorageError::io(&self.path))?;
        }
        Ok(())
    }

    fn zero_fill(&mut self, len: u64) -> Result<()> {
        use std::os::unix::fs::FileExt;
        const CHUNK: usize = 1 << 20;
        let zeros = vec![0u8; CHUNK];
        let mut at = self.file.metadata().map_err(StorageError::io(&self.path))?.len();
        while at < len {
            let n = ((len - at) as usize).min(CHUNK);
            faults::before_append(n).map_err(StorageError::io(&self.path))?;
            self.file
                .write_all_at(&zeros[..n], at)
                .map_err(StorageError::io(&self.path))?;
            at += n as u64;
        }
        Ok(())
    }
}

/// Faults the local file system can be told to inject, process-wide, so the server's own tests can show
/// what a full disk or a failing fsync does to requests (`STRONGROOM_TEST_FAULTS`). Nothing is injected
/// unless [`faults::inject`] was called.
pub mod faults {
    use std::sync::atomic::{AtomicI64, Ordering};

    /// Bytes that may still be appended before appends fail with ENOSPC (negative: no limit).
    static DISK_LEFT: AtomicI64 = AtomicI64::new(-1);
    /// Fsyncs that may still succeed before they fail with EIO (negative: no limit).
    static SYNCS_LEFT: AtomicI64 = AtomicI64::new(-1);

    /// Reads `disk-full-after-bytes=N` or `fsync-fails-after=N` (comma separated) and arms them.
    pub fn inject(spec: &str) -> Result<(), String> {
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, n) = part
                .split_once('=')
                .ok_or_else(|| format!("a fault is NAME=N, not '{part}'"))?;
            let n: i64 = n.parse().map_err(|_| format!("'{n}' is not a count"))?;
            match name {
                "disk-full-after-bytes" => DISK_LEFT.store(n.max(0), Ordering::SeqCst),
                "fsync-fails-after" => SYNCS_LEFT.store(n.max(0), Ordering::SeqCst),
                other => return Err(format!("unknown fault '{other}'")),
            }
        }
        Ok(())
    }

    /// Takes `n` from `budget`: always granted while unarmed (negative), refused once too little is left.
    fn take(budget: &AtomicI64, n: i64) -> bool {
        let mut left = budget.load(Ordering::SeqCst);
        loop {
            if left < 0 {
                return true;
            }
            if left < n {
                return false;
            }
            match budget.compare_exchange(left, left - n, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(now) => left = now,
            }
        }
    }

    pub(super) fn before_append(len: usize) -> std::io::Result<()> {
        if take(&DISK_LEFT, len as i64) {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
        }
    }

    pub(super) fn before_sync() -> std::io::Result<()> {
        if take(&SYNCS_LEFT, 1) {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(5)) // EIO
        }
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
        let file = open_without_atime(path).map_err(StorageError::io(path))?;
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
