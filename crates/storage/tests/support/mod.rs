//! A file system for fault tests: the local one, except that every mutating operation first asks the
//! test's [`Hook`] whether to go ahead, fail, or (an append) write half and fail.

use std::path::Path;
use std::sync::Arc;

use storage::fs::{AppendFile, FileSystem, LocalFs, ReadAt};
use storage::StorageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    AppendTo,
    Append,
    Sync,
    Rename,
    Remove,
    Truncate,
}

pub enum Verdict {
    Go,
    /// An append writes the first half of its data, then fails; any other operation just fails.
    Tear(StorageError),
    Fail(StorageError),
}

pub trait Hook: Send + Sync + 'static {
    fn before(&self, op: Op) -> Verdict;
}

pub struct HookedFs<H: Hook>(pub Arc<H>);

struct HookedFile<H: Hook> {
    inner: Box<dyn AppendFile>,
    hook: Arc<H>,
}

impl<H: Hook> HookedFs<H> {
    /// Runs a whole mutation, or none of it.
    fn whole<T>(&self, op: Op, f: impl FnOnce() -> storage::Result<T>) -> storage::Result<T> {
        match self.0.before(op) {
            Verdict::Go => f(),
            Verdict::Tear(e) | Verdict::Fail(e) => Err(e),
        }
    }

    fn wrap(&self, inner: Box<dyn AppendFile>) -> Box<dyn AppendFile> {
        Box::new(HookedFile {
            inner,
            hook: self.0.clone(),
        })
    }
}

impl<H: Hook> AppendFile for HookedFile<H> {
    fn append(&mut self, data: &[u8]) -> storage::Result<()> {
        match self.hook.before(Op::Append) {
            Verdict::Go => self.inner.append(data),
            Verdict::Tear(e) => {
                let _ = self.inner.append(&data[..data.len() / 2]);
                Err(e)
            }
            Verdict::Fail(e) => Err(e),
        }
    }

    fn sync(&mut self) -> storage::Result<()> {
        match self.hook.before(Op::Sync) {
            Verdict::Go => self.inner.sync(),
            Verdict::Tear(e) | Verdict::Fail(e) => Err(e),
        }
    }

    fn reserve(&mut self, len: u64) -> storage::Result<()> {
        match self.hook.before(Op::Truncate) {
            Verdict::Go => self.inner.reserve(len),
            Verdict::Tear(e) | Verdict::Fail(e) => Err(e),
        }
    }
}

impl<H: Hook> FileSystem for HookedFs<H> {
    fn open_read(&self, path: &Path) -> storage::Result<Box<dyn ReadAt>> {
        LocalFs.open_read(path)
    }
    fn create(&self, path: &Path) -> storage::Result<Box<dyn AppendFile>> {
        let inner = self.whole(Op::Create, || LocalFs.create(path))?;
        Ok(self.wrap(inner))
    }
    fn append_to(&self, path: &Path) -> storage::Result<Box<dyn AppendFile>> {
        let inner = self.whole(Op::AppendTo, || LocalFs.append_to(path))?;
        Ok(self.wrap(inner))
    }
    fn read_all(&self, path: &Path) -> storage::Result<Vec<u8>> {
        LocalFs.read_all(path)
    }
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> storage::Result<Vec<u8>> {
        LocalFs.read_at(path, offset, len)
    }
    fn size(&self, path: &Path) -> storage::Result<u64> {
        LocalFs.size(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> storage::Result<()> {
        self.whole(Op::Rename, || LocalFs.rename(from, to))
    }
    fn remove(&self, path: &Path) -> storage::Result<()> {
        self.whole(Op::Remove, || LocalFs.remove(path))
    }
    fn truncate(&self, path: &Path, len: u64) -> storage::Result<()> {
        self.whole(Op::Truncate, || LocalFs.truncate(path, len))
    }
    fn list(&self, dir: &Path) -> storage::Result<Vec<String>> {
        LocalFs.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        LocalFs.exists(path)
    }
    fn create_dir_all(&self, dir: &Path) -> storage::Result<()> {
        LocalFs.create_dir_all(dir)
    }
}
