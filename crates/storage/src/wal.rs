//! The write-ahead log: one segment file per memtable, each record a sealed write batch.
//!
//! Record framing: `len u32 BE | sealed( codec u8 | batch ) (len bytes)`, sealed at the offset of its
//! length field; the batch is compressed first when that pays.
//! Writers share fsyncs (group commit): the first waiting writer becomes the leader, writes every queued
//! record, fsyncs once, applies them in sequence order and wakes the rest. A failed write or fsync poisons
//! the log: nothing after it is acknowledged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

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
}

impl Segment {
    fn frame(&mut self, payload: &[u8]) -> Vec<u8> {
        let sealed = self.key.seal(
            self.file_id,
            self.offset,
            Kind::WalRecord,
            &crate::codec::compress(payload),
        );
        let mut out = Vec::with_capacity(4 + sealed.len());
        out.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
        out.extend_from_slice(&sealed);
        self.offset += out.len() as u64;
        out
    }
}

/// A new segment: header written and synced before any record.
pub fn create(fs: &dyn FileSystem, dir: &Path, file_id: u64, key: Arc<DataKey>) -> Result<Box<dyn AppendFileSegment>> {
    let path = dir.join(file_name(file_id));
    let mut file = fs.create(&path)?;
    file.append(&seal::header(MAGIC, file_id, key.id))?;
    file.sync()?;
    Ok(Box::new(Segment {
        file,
        file_id,
        key,
        offset: HEADER_LEN as u64,
    }))
}

/// What the log writes through (a trait so the engine can swap segments without knowing their type).
pub trait AppendFileSegment: Send {
    fn write_records(&mut self, payloads: &[Vec<u8>]) -> Result<()>;
    fn file_id(&self) -> u64;
}

impl AppendFileSegment for Segment {
    fn write_records(&mut self, payloads: &[Vec<u8>]) -> Result<()> {
        let mut buf = Vec::new();
        for p in payloads {
            buf.extend_from_slice(&self.frame(p));
        }
        self.file.append(&buf)?;
        self.file.sync()
    }

    fn file_id(&self) -> u64 {
        self.file_id
    }
}

/// What recovery found in a segment.
pub struct Replayed {
    pub batches: Vec<(u64, WriteBatch)>,
    /// Where valid data ends; anything after it was a torn write and is cut off.
    pub valid_len: u64,
}

/// Reads a segment. A damaged or incomplete *last* record is a torn write (dropped); damage before the
/// last record is corruption.
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
        let end = pos + 4 + len;
        if end > raw.len() {
            break;
        }
        match key.open(file_id, pos as u64, Kind::WalRecord, &raw[pos + 4..end], &name) {
            Ok(plain) => batches.push(batch::decode(&crate::codec::decompress(&plain, &name)?, &name)?),
            // A damaged last record is a write the crash tore: dropped, as a torn tail.
            Err(_) if end == raw.len() => break,
            Err(e) => return Err(e),
        }
        pos = end;
    }
    Ok(Replayed {
        batches,
        valid_len: pos as u64,
    })
}

struct LogState {
    segment: Box<dyn AppendFileSegment>,
    queue: Vec<(u64, WriteBatch)>,
    leader: bool,
    next_seq: u64,
    durable_seq: u64,
    poisoned: Option<String>,
}

/// The group-commit log over the current segment. It hands out sequence numbers, so the order of the
/// queue is the order of the sequence.
pub struct Log {
    state: Mutex<LogState>,
    cond: Condvar,
    /// `durable_seq`, mirrored for readers: every read asks for it, and taking the writers' mutex for
    /// that made concurrent readers contend with each other and with commits.
    durable: std::sync::atomic::AtomicU64,
}

impl Log {
    /// `last_seq`: the highest sequence number already durable (from recovery).
    pub fn new(segment: Box<dyn AppendFileSegment>, last_seq: u64) -> Log {
        Log {
            state: Mutex::new(LogState {
                segment,
                queue: Vec::new(),
                leader: false,
                next_seq: last_seq + 1,
                durable_seq: last_seq,
                poisoned: None,
            }),
            cond: Condvar::new(),
            durable: std::sync::atomic::AtomicU64::new(last_seq),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives `batch` the next sequence number and makes it durable, sharing the fsync with whoever else is
    /// waiting. The leader calls `apply` for every batch of its group, in sequence order, once the group is
    /// durable and before [`Log::durable_seq`] moves past it: readers at that sequence see whole groups.
    /// Returns the batch's sequence number.
    pub fn commit(&self, batch: WriteBatch, apply: &(dyn Fn(u64, &WriteBatch) + Sync)) -> Result<u64> {
        let mut st = self.lock();
        if let Some(p) = &st.poisoned {
            return Err(StorageError::Poisoned(p.clone()));
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.queue.push((seq, batch));
        loop {
            if let Some(p) = &st.poisoned {
                return Err(StorageError::Poisoned(p.clone()));
            }
            if st.durable_seq >= seq {
                return Ok(seq);
            }
            if !st.leader {
                break;
            }
            st = self.cond.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.leader = true;
        while st.durable_seq < seq {
            let group = std::mem::take(&mut st.queue);
            let payloads: Vec<Vec<u8>> = group.iter().map(|(s, b)| batch::encode(*s, b)).collect();
            let top = group.last().map(|(s, _)| *s).unwrap_or(st.durable_seq);
            // Write outside the lock so new writers can queue for the next group meanwhile.
            let mut segment = std::mem::replace(&mut st.segment, Box::new(Detached));
            drop(st);
            let written = segment.write_records(&payloads);
            if written.is_ok() {
                for (s, b) in &group {
                    apply(*s, b);
                }
            }
            st = self.lock();
            st.segment = segment;
            if let Err(e) = written {
                st.poisoned = Some(e.to_string());
                st.leader = false;
                self.cond.notify_all();
                return Err(e);
            }
            st.durable_seq = top;
            // Published under the lock, after the batches are applied: a reader at `top` sees them all.
            self.durable.store(top, std::sync::atomic::Ordering::Release);
        }
        st.leader = false;
        self.cond.notify_all();
        Ok(seq)
    }

    /// Everything up to here is durable and applied.
    pub fn durable_seq(&self) -> u64 {
        self.durable.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Switches to a new segment once no group is in flight; returns the old segment's file id.
    pub fn switch(&self, segment: Box<dyn AppendFileSegment>) -> Result<u64> {
        let mut st = self.lock();
        while st.leader || !st.queue.is_empty() {
            st = self.cond.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if let Some(p) = &st.poisoned {
            return Err(StorageError::Poisoned(p.clone()));
        }
        let old = std::mem::replace(&mut st.segment, segment);
        Ok(old.file_id())
    }

    /// Once no group is in flight, and while none can start, swaps in `segment` and runs `f` with the
    /// durable sequence number (a flush freezes the memtable this way).
    pub fn switch_with<R>(&self, segment: Box<dyn AppendFileSegment>, f: impl FnOnce(u64) -> R) -> Result<R> {
        let mut st = self.lock();
        while st.leader || !st.queue.is_empty() {
            st = self.cond.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if let Some(p) = &st.poisoned {
            return Err(StorageError::Poisoned(p.clone()));
        }
        st.segment = segment;
        Ok(f(st.durable_seq))
    }
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
}

pub fn path(dir: &Path, id: u64) -> PathBuf {
    dir.join(file_name(id))
}
