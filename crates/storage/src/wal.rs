//! The write-ahead log: one segment file per memtable, each record a sealed write batch.
//!
//! Record framing: `len u32 BE | sealed( codec u8 | batch ) (len bytes)`, sealed at the offset of its
//! length field; the batch is compressed first when that pays. A segment is reserved ahead to about a
//! memtable's worth (a hole that reads as zeros, or written zeros for a segment [`prepare`]d ahead), so
//! commits write inside the file's length; a zero length where a record would start ends the records.
//! Writers share fsyncs (group commit): one group at a time takes every queued record, writes them,
//! fsyncs once, applies them in sequence order and wakes exactly that group's writers, which may be
//! threads ([`Log::commit`]) or async tasks ([`Log::commit_async`]). The log's writer thread writes the
//! groups, except that a thread committing into an idle log writes its group itself. A failed write or
//! fsync poisons the log: nothing after it is acknowledged.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::batch::{self, WriteBatch};
use crate::error::{Result, StorageError};
use crate::fs::{AppendFile, FileSystem};
use crate::seal::{self, DataKey, Kind, HEADER_LEN};

pub const MAGIC: &[u8; 8] = b"SRWAL001";

pub fn file_name(id: u64) -> String {
    format!("{id:010}.wal")
}

struct Segment {
    file: Box<dyn AppendFile>,
    file_id: u64,
    key: Arc<DataKey>,
    offset: u64,
    codec: crate::codec::Adaptive,
}

impl Segment {
    fn frame(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut framed = Vec::with_capacity(1 + payload.len() + crate::seal::TAG_LEN);
        framed.push(0);
        framed.extend_from_slice(payload);
        // Items are often incompressible (random or already compressed values); the adaptive codec stops
        // trying LZ4 on a segment whose records do not compress, and sealing then reuses the buffer.
        let sealed = self
            .key
            .seal_owned(self.file_id, self.offset, Kind::WalRecord, self.codec.frame(framed));
        let mut out = Vec::with_capacity(4 + sealed.len());
        out.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
        out.extend_from_slice(&sealed);
        self.offset += out.len() as u64;
        out
    }
}

/// A new segment: header written and synced before any record, the file reserved to `reserve` bytes
/// (about what a memtable's records take) so that commits write inside its length. The unwritten rest
/// reads as zeros, which replay takes as the end of the records.
pub fn create(
    fs: &dyn FileSystem,
    dir: &Path,
    file_id: u64,
    key: Arc<DataKey>,
    reserve: u64,
) -> Result<Box<dyn AppendFileSegment>> {
    let mut file = fs.create(&path(dir, file_id))?;
    begin(file.as_mut(), file_id, &key, 0, reserve)?;
    Ok(segment(file, file_id, key))
}

/// [`create`] ahead of need, off the write path: the first `zeroed` bytes after the header are written
/// zeros rather than a hole (see [`AppendFile::zero_fill`]). Built under a temporary name and renamed into
/// place once whole, so a listing of the directory never finds a segment without its header.
pub fn prepare(
    fs: &dyn FileSystem,
    dir: &Path,
    file_id: u64,
    key: Arc<DataKey>,
    zeroed: u64,
    reserve: u64,
) -> Result<Box<dyn AppendFileSegment>> {
    let target = path(dir, file_id);
    let tmp = target.with_extension("tmp");
    let mut file = fs.create(&tmp)?;
    let built = begin(file.as_mut(), file_id, &key, zeroed, reserve).and_then(|()| fs.rename(&tmp, &target));
    if let Err(e) = built {
        drop(file);
        let _ = fs.remove(&tmp);
        return Err(e);
    }
    Ok(segment(file, file_id, key))
}

fn begin(file: &mut dyn AppendFile, file_id: u64, key: &DataKey, zeroed: u64, reserve: u64) -> Result<()> {
    file.append(&seal::header(MAGIC, file_id, key.id))?;
    if zeroed > 0 {
        file.zero_fill(HEADER_LEN as u64 + zeroed)?;
    }
    file.reserve(reserve)?;
    file.sync()
}

fn segment(file: Box<dyn AppendFile>, file_id: u64, key: Arc<DataKey>) -> Box<dyn AppendFileSegment> {
    Box::new(Segment {
        file,
        file_id,
        key,
        offset: HEADER_LEN as u64,
        codec: Default::default(),
    })
}

/// What the log writes through (a trait so the engine can swap segments without knowing their type).
pub trait AppendFileSegment: Send {
    fn write_records(&mut self, payloads: &[Vec<u8>]) -> Result<()>;
    fn file_id(&self) -> u64;
    /// Bytes written so far, header included.
    fn written(&self) -> u64;
}

impl AppendFileSegment for Segment {
    fn write_records(&mut self, payloads: &[Vec<u8>]) -> Result<()> {
        let mut buf = Vec::new();
        for p in payloads {
            buf.extend_from_slice(&self.frame(p));
        }
        self.file.append(&buf)?;
        self.file.sync()?;
        crate::stats::wal_synced();
        Ok(())
    }

    fn file_id(&self) -> u64 {
        self.file_id
    }

    fn written(&self) -> u64 {
        self.offset
    }
}

/// What recovery found in a segment.
pub struct Replayed {
    pub batches: Vec<(u64, WriteBatch)>,
    /// Where valid data ends; anything after it was a torn write and is cut off.
    pub valid_len: u64,
}

/// Reads a segment. A damaged or incomplete *last* record (nothing but the zeros of the reserved,
/// unwritten rest after it) is a torn write (dropped); damage before the last record is corruption.
pub fn replay(fs: &dyn FileSystem, path: &Path, key_for: &dyn Fn(u64) -> Result<Arc<DataKey>>) -> Result<Replayed> {
    let name = path.display().to_string();
    let raw = fs.read_all(path)?;
    let (file_id, key_id) = seal::parse_header(&raw, MAGIC, &name)?;
    let key = key_for(key_id)?;
    let mut pos = HEADER_LEN;
    let mut batches = Vec::new();
    while pos < raw.len() {
        if pos + 4 > raw.len() {
            break;
        }
        let len = u32::from_be_bytes([raw[pos], raw[pos + 1], raw[pos + 2], raw[pos + 3]]) as usize;
        let unwritten = |from: usize| raw[from.min(raw.len())..].iter().all(|b| *b == 0);
        // No record is empty (a sealed one holds at least its tag): a zero length is where the writes
        // stopped, in the reserved rest of the file. Anything but zeros after it is damage.
        if len == 0 {
            if unwritten(pos) {
                break;
            }
            return Err(StorageError::corrupt(
                &name,
                format!("record at offset {pos}"),
                "zero length",
            ));
        }
        let end = pos + 4 + len;
        if end > raw.len() {
            break;
        }
        match key.open(file_id, pos as u64, Kind::WalRecord, &raw[pos + 4..end], &name) {
            Ok(plain) => batches.push(batch::decode(&crate::codec::decompress(&plain, &name)?, &name)?),
            // A damaged last record is a write the crash tore: dropped, as a torn tail.
            Err(_) if unwritten(end) => break,
            Err(e) => return Err(e),
        }
        pos = end;
    }
    Ok(Replayed {
        batches,
        valid_len: pos as u64,
    })
}

/// How a waiting writer is told its batch is done: a parked thread or an async task.
enum Wake {
    None,
    Thread(std::thread::Thread),
    Task(Waker),
}

/// One submitted batch's outcome, filled in by the writer thread.
pub struct Waiter {
    done: AtomicBool,
    result: Mutex<Option<Result<u64>>>,
    wake: Mutex<Wake>,
}

impl Waiter {
    fn new() -> Arc<Waiter> {
        Arc::new(Waiter {
            done: AtomicBool::new(false),
            result: Mutex::new(None),
            wake: Mutex::new(Wake::None),
        })
    }

    fn finish(&self, result: Result<u64>) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        self.done.store(true, Ordering::Release);
        match std::mem::replace(&mut *self.wake.lock().unwrap_or_else(|p| p.into_inner()), Wake::None) {
            Wake::None => {}
            Wake::Thread(t) => t.unpark(),
            Wake::Task(w) => w.wake(),
        }
    }

    fn take(&self) -> Result<u64> {
        self.result
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| Err(StorageError::Poisoned("commit result taken twice".into())))
    }

    /// Blocks the calling thread until the batch is done.
    fn wait(&self) -> Result<u64> {
        *self.wake.lock().unwrap_or_else(|p| p.into_inner()) = Wake::Thread(std::thread::current());
        while !self.done.load(Ordering::Acquire) {
            std::thread::park();
        }
        self.take()
    }
}

/// A commit in flight, for async callers: resolves to the batch's sequence number once it is durable.
pub struct Commit {
    waiter: Option<Arc<Waiter>>,
    refused: Option<StorageError>,
}

impl Commit {
    pub fn failed(e: StorageError) -> Commit {
        Commit {
            waiter: None,
            refused: Some(e),
        }
    }

    /// A commit of nothing: resolves at once to `seq`.
    pub fn done(seq: u64) -> Commit {
        let w = Waiter::new();
        w.finish(Ok(seq));
        Commit {
            waiter: Some(w),
            refused: None,
        }
    }
}

impl Future for Commit {
    type Output = Result<u64>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u64>> {
        if let Some(e) = self.refused.take() {
            return Poll::Ready(Err(e));
        }
        let Some(w) = self.waiter.clone() else {
            return Poll::Ready(Err(StorageError::Poisoned("commit polled after completion".into())));
        };
        if !w.done.load(Ordering::Acquire) {
            *w.wake.lock().unwrap_or_else(|p| p.into_inner()) = Wake::Task(cx.waker().clone());
            // Checked again after registering: the writer sets `done` before it looks for a waker.
            if !w.done.load(Ordering::Acquire) {
                return Poll::Pending;
            }
        }
        self.waiter = None;
        Poll::Ready(w.take())
    }
}

/// Applies a durable batch to the memtable (given by the engine; called in sequence order).
pub type Apply = Box<dyn Fn(u64, &WriteBatch) + Send + Sync>;

struct LogState {
    segment: Box<dyn AppendFileSegment>,
    queue: Vec<(u64, WriteBatch, Arc<Waiter>)>,
    /// A thread (the writer thread, or a committing thread writing its own group) holds the segment and
    /// a group.
    writing: bool,
    next_seq: u64,
    durable_seq: u64,
    poisoned: Option<String>,
    closed: bool,
}

struct Shared {
    state: Mutex<LogState>,
    /// Wakes the writer thread: work queued, or the log closed.
    work: Condvar,
    /// Signalled when the log goes idle (nothing queued or being written): segment switches wait for it.
    idle: Condvar,
    /// `durable_seq`, mirrored for readers: every read asks for it, and taking the writers' mutex for
    /// that made concurrent readers contend with each other and with commits.
    durable: AtomicU64,
    apply: Apply,
}

/// The group-commit log over the current segment. It hands out sequence numbers, so the order of the
/// queue is the order of the sequence. One group is written at a time, by the log's writer thread or by a
/// thread in [`Log::commit`] that found the log idle; waiting writers, threads or async tasks, are each
/// woken once, when their own batch is durable.
pub struct Log {
    shared: Arc<Shared>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Log {
    /// `last_seq`: the highest sequence number already durable (from recovery).
    pub fn new(segment: Box<dyn AppendFileSegment>, last_seq: u64, apply: Apply) -> Result<Log> {
        let shared = Arc::new(Shared {
            state: Mutex::new(LogState {
                segment,
                queue: Vec::new(),
                writing: false,
                next_seq: last_seq + 1,
                durable_seq: last_seq,
                poisoned: None,
                closed: false,
            }),
            work: Condvar::new(),
            idle: Condvar::new(),
            durable: AtomicU64::new(last_seq),
            apply,
        });
        let for_writer = shared.clone();
        let writer = std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || write_groups(&for_writer))
            .map_err(|e| StorageError::Poisoned(format!("cannot start the WAL writer: {e}")))?;
        Ok(Log {
            shared,
            writer: Some(writer),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `batch` under the next sequence number; returns the lock still held.
    fn enqueue(&self, batch: WriteBatch) -> Result<(Arc<Waiter>, MutexGuard<'_, LogState>)> {
        let waiter = Waiter::new();
        let mut st = self.lock();
        if let Some(p) = &st.poisoned {
            return Err(StorageError::Poisoned(p.clone()));
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.queue.push((seq, batch, waiter.clone()));
        Ok((waiter, st))
    }

    /// Queues `batch` for the writer thread.
    fn submit(&self, batch: WriteBatch) -> Result<Arc<Waiter>> {
        let (waiter, st) = self.enqueue(batch)?;
        drop(st);
        self.shared.work.notify_one();
        Ok(waiter)
    }

    /// Gives `batch` the next sequence number and waits until it is durable, sharing the fsync with whoever
    /// else is waiting. Batches are applied (through the engine's `apply`) in sequence order, once their
    /// group is durable and before [`Log::durable_seq`] moves past it: readers at that sequence see whole
    /// groups. Returns the batch's sequence number.
    ///
    /// When no group is being written, the calling thread writes this one itself (with whatever else is
    /// queued) instead of handing it to the writer thread: a lone writer then pays for its fsync and
    /// nothing else, where the hand-off and the wake-up back cost it two thread switches per commit.
    pub fn commit(&self, batch: WriteBatch) -> Result<u64> {
        let (waiter, st) = self.enqueue(batch)?;
        if st.writing {
            drop(st);
            self.shared.work.notify_one();
        } else {
            drop(write_group(&self.shared, st));
        }
        waiter.wait()
    }

    /// [`Log::commit`] for async callers: no thread waits.
    pub fn commit_async(&self, batch: WriteBatch) -> Commit {
        match self.submit(batch) {
            Ok(w) => Commit {
                waiter: Some(w),
                refused: None,
            },
            Err(e) => Commit::failed(e),
        }
    }

    /// Everything up to here is durable and applied.
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// Switches to a new segment once no group is in flight; returns the old segment's file id.
    pub fn switch(&self, segment: Box<dyn AppendFileSegment>) -> Result<u64> {
        let mut st = self.lock();
        while st.writing || !st.queue.is_empty() {
            st = self.shared.idle.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if let Some(p) = &st.poisoned {
            return Err(StorageError::Poisoned(p.clone()));
        }
        let old = std::mem::replace(&mut st.segment, segment);
        Ok(old.file_id())
    }

    /// Once no group is in flight, and while none can start, swaps in `segment` and runs `f` with the
    /// durable sequence number and the bytes the old segment holds (a flush freezes the memtable this way).
    pub fn switch_with<R>(&self, segment: Box<dyn AppendFileSegment>, f: impl FnOnce(u64, u64) -> R) -> Result<R> {
        let mut st = self.lock();
        while st.writing || !st.queue.is_empty() {
            st = self.shared.idle.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if let Some(p) = &st.poisoned {
            return Err(StorageError::Poisoned(p.clone()));
        }
        let old = std::mem::replace(&mut st.segment, segment);
        Ok(f(st.durable_seq, old.written()))
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.lock().closed = true;
        self.shared.work.notify_all();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// The writer thread: writes a group whenever something is queued and no committing thread is writing one.
fn write_groups(shared: &Shared) {
    let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if st.queue.is_empty() || st.writing {
            if st.closed && st.queue.is_empty() {
                return;
            }
            st = shared.work.wait(st).unwrap_or_else(|p| p.into_inner());
            continue;
        }
        st = write_group(shared, st);
    }
}

/// Takes everything queued as one group, writes and fsyncs it once, applies it in sequence order, publishes
/// it, and wakes its writers. A failed write poisons the log: the group's first writer gets the error,
/// everyone else (and every later writer) hears the log is poisoned. Called with the lock held, nothing
/// being written and something queued, by the writer thread or by a committing thread.
fn write_group<'a>(shared: &'a Shared, mut st: MutexGuard<'a, LogState>) -> MutexGuard<'a, LogState> {
    let group = std::mem::take(&mut st.queue);
    if let Some(p) = st.poisoned.clone() {
        for (_, _, w) in group {
            w.finish(Err(StorageError::Poisoned(p.clone())));
        }
        shared.idle.notify_all();
        return st;
    }
    let payloads: Vec<Vec<u8>> = group.iter().map(|(s, b, _)| batch::encode(*s, b)).collect();
    let top = group.last().map(|(s, _, _)| *s).unwrap_or(st.durable_seq);
    // Written outside the lock, so new writers queue for the next group meanwhile.
    let mut segment = std::mem::replace(&mut st.segment, Box::new(Detached));
    st.writing = true;
    drop(st);
    let written = segment.write_records(&payloads);
    if written.is_ok() {
        for (s, b, _) in &group {
            (shared.apply)(*s, b);
        }
    }
    st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    st.segment = segment;
    st.writing = false;
    match written {
        Ok(()) => {
            st.durable_seq = top;
            // Published under the lock, after the batches are applied: a reader at `top` sees them all.
            shared.durable.store(top, Ordering::Release);
            for (s, _, w) in &group {
                w.finish(Ok(*s));
            }
        }
        Err(e) => {
            st.poisoned = Some(e.to_string());
            let mut first = Some(e);
            for (_, _, w) in group.iter().chain(std::mem::take(&mut st.queue).iter()) {
                let p = StorageError::Poisoned(st.poisoned.clone().unwrap_or_default());
                w.finish(Err(first.take().unwrap_or(p)));
            }
        }
    }
    if st.queue.is_empty() {
        shared.idle.notify_all();
    } else {
        // Queued while this group was written: the writer thread takes them (it may have been told
        // while a committing thread was writing, and gone back to sleep).
        shared.work.notify_one();
    }
    st
}

/// Stands in for the segment while the leader writes it.
struct Detached;

impl AppendFileSegment for Detached {
    fn write_records(&mut self, _: &[Vec<u8>]) -> Result<()> {
        Err(StorageError::Poisoned("segment detached".into()))
    }

    fn file_id(&self) -> u64 {
        0
    }

    fn written(&self) -> u64 {
        0
    }
}

pub fn path(dir: &Path, id: u64) -> PathBuf {
    dir.join(file_name(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the groups written and how many records each held.
    struct Counting(Arc<Mutex<Vec<usize>>>);

    impl AppendFileSegment for Counting {
        fn write_records(&mut self, payloads: &[Vec<u8>]) -> Result<()> {
            self.0.lock().unwrap().push(payloads.len());
            std::thread::sleep(std::time::Duration::from_micros(200));
            Ok(())
        }

        fn file_id(&self) -> u64 {
            1
        }

        fn written(&self) -> u64 {
            0
        }
    }

    #[test]
    fn many_writers_share_groups_and_every_batch_is_applied_once_in_order() {
        let groups = Arc::new(Mutex::new(Vec::new()));
        let applied = Arc::new(Mutex::new(Vec::new()));
        let record = applied.clone();
        let apply: Apply = Box::new(move |s: u64, _: &WriteBatch| record.lock().unwrap().push(s));
        let log = Log::new(Box::new(Counting(groups.clone())), 0, apply).unwrap();
        let (threads, each) = (16, 300);
        let mut seqs: Vec<u64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        (0..each)
                            .map(|_| log.commit(WriteBatch::new()).unwrap())
                            .collect::<Vec<u64>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let total = (threads * each) as u64;
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
        assert_eq!(*applied.lock().unwrap(), (1..=total).collect::<Vec<_>>());
        assert_eq!(log.durable_seq(), total);
        let groups = groups.lock().unwrap();
        assert_eq!(groups.iter().sum::<usize>(), total as usize);
        assert!(
            groups.len() < total as usize / 2,
            "{} groups for {total} writes",
            groups.len()
        );
        // The log is idle again: a segment switch goes through.
        assert!(log.switch(Box::new(Detached)).is_ok());
    }

    /// Polls a future to completion on this thread (the storage crate has no runtime of its own).
    fn block_on<F: Future>(f: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    #[test]
    fn async_commits_resolve_once_durable_and_share_groups_with_blocking_ones() {
        let groups = Arc::new(Mutex::new(Vec::new()));
        let log = Log::new(Box::new(Counting(groups.clone())), 7, Box::new(|_, _| {})).unwrap();
        let mut seqs: Vec<u64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let log = &log;
                    scope.spawn(move || {
                        (0..100)
                            .map(|_| {
                                if i % 2 == 0 {
                                    let pending: Vec<Commit> =
                                        (0..4).map(|_| log.commit_async(WriteBatch::new())).collect();
                                    let seqs: Vec<u64> = pending.into_iter().map(|c| block_on(c).unwrap()).collect();
                                    assert!(seqs.iter().all(|s| *s <= log.durable_seq()));
                                    seqs
                                } else {
                                    vec![log.commit(WriteBatch::new()).unwrap()]
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).flatten().collect()
        });
        seqs.sort_unstable();
        let total = 4 * 100 * 4 + 4 * 100;
        assert_eq!(seqs, (8..8 + total as u64).collect::<Vec<_>>());
        assert_eq!(block_on(Commit::done(3)).unwrap(), 3);
    }
}
