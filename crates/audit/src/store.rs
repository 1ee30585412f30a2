//! The durable trail: append, sync, reload, verify.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, RwLock};

use aws_lc_rs::digest;
use base::{RootKey, SealedStore};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::AuditEvent;
use crate::index::{fold_old_chunks, Events, Progress, StoredEvent, CHUNK};

const AAD_PREFIX: &str = "strongroom/trail/v2/";

/// Events handed to the writer and not yet taken, at most.
const PENDING_LIMIT: usize = 1 << 16;

/// At most this many records share a frame.
const FRAME_RECORDS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    #[error("trail file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("trail record {seq} failed authentication: it was changed, or sealed under another root key")]
    Tampered { seq: u64 },
    #[error("trail record {seq} does not follow record {prev}: a record was removed or reordered")]
    BrokenChain { seq: u64, prev: u64 },
    #[error("the trail ends at record {found} but its head says {expected}: records were removed from the end")]
    Truncated { found: u64, expected: u64 },
    #[error("the trail file ends inside a record (offset {offset})")]
    TornTail { offset: u64 },
    #[error("trail head: {0}")]
    Head(#[from] base::sealed::SealedError),
    #[error("trail record does not decode: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("sealing failed: {0}")]
    Seal(#[from] base::root_key::RootKeyError),
    #[error("the audit trail writer has stopped")]
    WriterGone,
    #[error("the audit trail writer failed: {0}")]
    Writer(String),
}

/// One sealed frame: consecutive records from `seq` on, chained to the previous frame by `prev`.
#[derive(Deserialize)]
struct Frame {
    seq: u64,
    prev: String,
    records: Vec<FrameRecord>,
}

#[derive(Deserialize)]
pub(crate) struct FrameRecord {
    account: String,
    region: String,
    record: Value,
}

#[derive(Serialize, Deserialize, Clone, Default)]
struct Head {
    seq: u64,
    hash: String,
}

/// What the writer thread is asked to do.
enum Msg {
    Record {
        seq: u64,
        event: Box<AuditEvent>,
    },
    /// Answered once every record sent before it is indexed (LookupEvents sees what was appended).
    Barrier(mpsc::Sender<()>),
    Sync(mpsc::Sender<Result<(), String>>),
}

/// Owned by the writer thread: the file, the chain's last hash and the head.
struct Writer {
    path: PathBuf,
    file: File,
    key: Arc<RootKey>,
    head: SealedStore<Head>,
    last_seq: u64,
    last_hash: String,
    /// Where the next frame goes in the file.
    offset: u64,
    progress: Arc<Progress>,
    events: Arc<RwLock<Events>>,
    dirty: bool,
    failed: Option<String>,
}

/// The index and the sequence counter move together under one lock, and records are handed to the writer
/// under it too, so file order, sequence order and index order are the same.
struct Index {
    next_seq: u64,
    tx: mpsc::SyncSender<Msg>,
}

/// A chunk's events, decrypted from the file.
pub(crate) type ChunkEvents = Arc<Vec<Arc<StoredEvent>>>;

pub struct Trail {
    index: Mutex<Index>,
    pub(crate) events: Arc<RwLock<Events>>,
    pub(crate) progress: Arc<Progress>,
    /// Read side of the trail file, for the records of summarized chunks.
    pub(crate) reader: File,
    pub(crate) path: PathBuf,
    pub(crate) key: Arc<RootKey>,
    /// The last chunk a lookup decrypted: paging through one chunk reads it once.
    pub(crate) chunk_cache: Mutex<Option<(usize, ChunkEvents)>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TrailError + '_ {
    move |source| TrailError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn hash_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

pub(crate) fn index_entry(seq: u64, frame: &FrameRecord) -> StoredEvent {
    let r = &frame.record;
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let ident = r.get("userIdentity").cloned().unwrap_or(Value::Null);
    let username = match ident.get("type").and_then(Value::as_str) {
        Some("Root") => Some("root".to_owned()),
        Some("IAMUser") => ident.get("userName").and_then(Value::as_str).map(str::to_owned),
        Some("AssumedRole") => ident
            .get("arn")
            .and_then(Value::as_str)
            .and_then(|a| a.rsplit('/').next())
            .map(str::to_owned),
        _ => None,
    };
    let resources = r
        .get("resources")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .map(|x| {
                    (
                        x.get("type").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        x.get("ARN").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let time_ms = r
        .get("eventTime")
        .and_then(Value::as_str)
        .and_then(base::timefmt::parse_rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or_default();
    StoredEvent {
        seq,
        account: frame.account.clone(),
        region: frame.region.clone(),
        time_ms,
        event_id: s("eventID"),
        event_name: s("eventName"),
        event_source: s("eventSource"),
        read_only: r.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
        username,
        access_key_id: ident.get("accessKeyId").and_then(Value::as_str).map(str::to_owned),
        resources,
        record_json: r.to_string(),
    }
}

/// The index entry of an event as appended. The strings are copies made on this thread, not moved from the
/// event: an event is allocated on a request worker, and keeping its memory alive in the index for
/// thousands of events measured slower (KMS Encrypt 45k -> 42k req/s) than freeing it at once.
fn stored_event(seq: u64, event: &AuditEvent) -> StoredEvent {
    StoredEvent {
        seq,
        account: event.recipient_account.clone(),
        region: event.region.clone(),
        // Whole seconds, as the record's eventTime has it (and as an entry read back from the file has it).
        time_ms: event.time_ms - event.time_ms.rem_euclid(1000),
        event_id: event.event_id.clone(),
        event_name: event.event_name.clone(),
        event_source: event.event_source.clone(),
        read_only: event.read_only,
        username: event.identity.username(),
        access_key_id: event.identity.access_key_id().map(str::to_owned),
        resources: event
            .resources
            .iter()
            .map(|(arn, _)| ("AWS::KMS::Key".to_owned(), arn.clone()))
            .collect(),
        record_json: event.to_record_json(),
    }
}

/// Reads `n` bytes or up to end of input; returns how many it read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Where a walk over frames starts, and whether it can check the chain (it can only from the first frame).
pub(crate) struct WalkFrom {
    pub seq: u64,
    pub offset: u64,
    pub prev_hash: Option<String>,
}

/// Where a walk over frames stopped.
pub(crate) struct Walked {
    /// The hash of the last whole frame.
    pub last_hash: String,
    /// The offset where whole frames end.
    pub end: u64,
    /// The input ended inside a frame (a crash mid-append): what follows `end` is a torn frame.
    pub torn: bool,
}

/// Reads frames from `r`, checking each seal (and the chain, when the walk starts at the beginning), and
/// hands each record to `visit` with its sequence number and the offset of its frame.
pub(crate) fn walk_frames(
    path: &Path,
    mut r: impl Read,
    key: &RootKey,
    from: WalkFrom,
    mut visit: impl FnMut(u64, u64, FrameRecord),
) -> Result<Walked, TrailError> {
    let mut seq = from.seq;
    let mut pos = from.offset;
    let mut last_hash = from.prev_hash.clone().unwrap_or_default();
    let mut sealed = Vec::new();
    let torn = loop {
        let mut len = [0u8; 4];
        match read_up_to(&mut r, &mut len).map_err(io(path))? {
            0 => break false,
            4 => {}
            _ => break true,
        }
        let n = u32::from_be_bytes(len) as usize;
        sealed.resize(n, 0);
        if read_up_to(&mut r, &mut sealed).map_err(io(path))? < n {
            break true;
        }
        let compressed = key
            .open(format!("{AAD_PREFIX}{seq}").as_bytes(), &sealed)
            .map_err(|_| TrailError::Tampered { seq })?;
        // Sealed under the root key, so the length prefix is ours: not a decompression bomb.
        let plain = lz4_flex::decompress_size_prepended(&compressed).map_err(|_| TrailError::Tampered { seq })?;
        let frame: Frame = serde_json::from_slice(&plain)?;
        if frame.seq != seq || (from.prev_hash.is_some() && frame.prev != last_hash) {
            return Err(TrailError::BrokenChain {
                seq,
                prev: seq.saturating_sub(1),
            });
        }
        last_hash = hash_hex(&sealed);
        for record in frame.records {
            visit(pos, seq, record);
            seq += 1;
        }
        pos += 4 + n as u64;
    };
    Ok(Walked {
        last_hash,
        end: pos,
        torn,
    })
}

/// Walks a whole trail file from its first frame; a missing file is an empty trail.
fn walk_file(path: &Path, key: &RootKey, visit: impl FnMut(u64, u64, FrameRecord)) -> Result<Walked, TrailError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Walked {
                last_hash: String::new(),
                end: 0,
                torn: false,
            })
        }
        Err(e) => return Err(io(path)(e)),
    };
    let from = WalkFrom {
        seq: 1,
        offset: 0,
        prev_hash: Some(String::new()),
    };
    walk_frames(
        path,
        std::io::BufReader::with_capacity(256 * 1024, file),
        key,
        from,
        visit,
    )
}

impl Trail {
    /// Opens the trail under `dir`, checking it whole. A torn last frame (a crash mid-append) is cut off;
    /// any other damage refuses to open.
    pub fn open(dir: &Path, key: Arc<RootKey>) -> Result<Trail, TrailError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join("events.log");
        let head: SealedStore<Head> =
            SealedStore::new(dir.join("head.sealed"), "strongroom/trail/head/v1", key.clone());
        // One pass: the index entries, where each chunk starts, and whether a crash tore the last frame.
        let mut starts = Vec::new();
        let mut entries = Vec::new();
        let walked = walk_file(&path, &key, |offset, seq, record| {
            if (seq - 1) % CHUNK == 0 {
                starts.push(offset);
            }
            entries.push(Arc::new(index_entry(seq, &record)));
        })?;
        if walked.torn {
            tracing::warn!(
                offset = walked.end,
                "cutting a torn record off the end of the audit trail"
            );
            let f = OpenOptions::new().write(true).open(&path).map_err(io(&path))?;
            f.set_len(walked.end).map_err(io(&path))?;
            f.sync_all().map_err(io(&path))?;
        }
        let (last_hash, end) = (walked.last_hash, walked.end);
        let count = entries.len() as u64;
        let progress = Arc::new(Progress::default());
        *progress.chunk_starts.lock().unwrap_or_else(|p| p.into_inner()) = starts;
        progress.written_seq.store(count, Ordering::Release);
        let mut events = Events::default();
        events.recent.extend(entries);
        if let Some(h) = head.load()? {
            if h.seq > count {
                return Err(TrailError::Truncated {
                    found: count,
                    expected: h.seq,
                });
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        debug_assert_eq!(file.metadata().map(|m| m.len()).unwrap_or(end), end);
        let reader = File::open(&path).map_err(io(&path))?;
        let events = Arc::new(RwLock::new(events));
        fold_old_chunks(&events, &progress);
        // Bounded: if the writer falls behind, appends wait (backpressure) instead of memory growing.
        let (tx, rx) = mpsc::sync_channel(PENDING_LIMIT);
        let writer = Writer {
            path: path.clone(),
            file,
            key: key.clone(),
            head,
            last_seq: count,
            last_hash,
            offset: end,
            progress: progress.clone(),
            events: events.clone(),
            dirty: false,
            failed: None,
        };
        let handle = std::thread::Builder::new()
            .name("audit-trail-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|source| TrailError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        Ok(Trail {
            index: Mutex::new(Index {
                next_seq: count + 1,
                tx,
            }),
            events,
            progress,
            reader,
            path,
            key,
            chunk_cache: Mutex::new(None),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Appends one event: handed to the writer thread, which serializes, indexes (lookups wait for it),
    /// seals and writes it, so a request pays only for a channel send; durable at the next [`Trail::sync`]
    /// (the server syncs every second).
    pub fn append(&self, event: AuditEvent) -> Result<(), TrailError> {
        let event = Box::new(event);
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let seq = index.next_seq;
        index
            .tx
            .send(Msg::Record { seq, event })
            .map_err(|_| TrailError::WriterGone)?;
        index.next_seq += 1;
        Ok(())
    }

    /// Waits until every event appended so far is indexed, so a lookup sees them all.
    pub(crate) fn barrier(&self) -> Result<(), TrailError> {
        let (ack_tx, ack_rx) = mpsc::channel();
        {
            let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
            index
                .tx
                .send(Msg::Barrier(ack_tx))
                .map_err(|_| TrailError::WriterGone)?;
        }
        ack_rx.recv().map_err(|_| TrailError::WriterGone)
    }

    /// Waits until every appended event is written and fsynced, and the head records them.
    pub fn sync(&self) -> Result<(), TrailError> {
        let (ack_tx, ack_rx) = mpsc::channel();
        {
            let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
            index.tx.send(Msg::Sync(ack_tx)).map_err(|_| TrailError::WriterGone)?;
        }
        match ack_rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(TrailError::Writer(e)),
            Err(_) => Err(TrailError::WriterGone),
        }
    }

    /// Checks a trail directory without opening it for writing: every seal, the chain and the head.
    pub fn verify(dir: &Path, key: Arc<RootKey>) -> Result<VerifyReport, TrailError> {
        let mut found = 0u64;
        let walked = walk_file(&dir.join("events.log"), &key, |_, _, _| found += 1)?;
        if walked.torn {
            return Err(TrailError::TornTail { offset: walked.end });
        }
        let last_hash = walked.last_hash;
        let head: SealedStore<Head> = SealedStore::new(dir.join("head.sealed"), "strongroom/trail/head/v1", key);
        if let Some(h) = head.load()? {
            if h.seq > found {
                return Err(TrailError::Truncated { found, expected: h.seq });
            }
            if h.seq == found && h.hash != last_hash {
                return Err(TrailError::BrokenChain {
                    seq: found,
                    prev: found,
                });
            }
        }
        Ok(VerifyReport { records: found })
    }
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            // Poll rather than block: a sender then never has to wake this thread (a futex call per
            // record), and a burst costs one write. A sync waits at most one poll period longer.
            let mut batch = Vec::new();
            let mut closed = false;
            while batch.len() < 4096 {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            if batch.is_empty() {
                if closed {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
                continue;
            }
            let mut acks = Vec::new();
            let mut barriers = Vec::new();
            let mut entries = Vec::new();
            for m in batch {
                match m {
                    Msg::Record { seq, event } => entries.push(Arc::new(stored_event(seq, &event))),
                    Msg::Barrier(ack) => barriers.push(ack),
                    Msg::Sync(ack) => acks.push(ack),
                }
            }
            if !entries.is_empty() {
                let mut events = self.events.write().unwrap_or_else(|p| p.into_inner());
                events.recent.extend(entries.iter().cloned());
            }
            for b in barriers {
                let _ = b.send(());
            }
            let mut starts = Vec::new();
            let mut frame: Vec<Arc<StoredEvent>> = Vec::new();
            for entry in entries {
                // A chunk starts a frame of its own, so LookupEvents can read a chunk back alone.
                if (entry.seq - 1) % CHUNK == 0 || frame.len() == FRAME_RECORDS {
                    self.seal_frame(&mut frame, &mut buf, &mut starts);
                }
                frame.push(entry);
            }
            self.seal_frame(&mut frame, &mut buf, &mut starts);
            if !buf.is_empty() && self.failed.is_none() {
                match self.file.write_all(&buf) {
                    Ok(()) => {
                        self.offset += buf.len() as u64;
                        self.progress
                            .chunk_starts
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend(starts);
                        self.progress.written_seq.store(self.last_seq, Ordering::Release);
                        fold_old_chunks(&self.events, &self.progress);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, path = %self.path.display(), "audit trail write failed");
                        self.failed = Some(e.to_string());
                    }
                }
                self.dirty = true;
            }
            buf.clear();
            if !acks.is_empty() {
                let r = self.sync();
                for a in acks {
                    let _ = a.send(r.clone());
                }
            }
            if closed {
                break;
            }
        }
        let _ = self.sync();
    }

    /// Seals the records of `frame` (emptying it) as one frame chained to the previous one: compressed
    /// together, a batch of CloudTrail records takes a fraction of the space, the I/O and the sealing work.
    fn seal_frame(&mut self, frame: &mut Vec<Arc<StoredEvent>>, buf: &mut Vec<u8>, starts: &mut Vec<u64>) {
        let Some(first) = frame.first().map(|e| e.seq) else {
            return;
        };
        debug_assert_eq!(first, self.last_seq + 1);
        if (first - 1) % CHUNK == 0 {
            starts.push(self.offset + buf.len() as u64);
        }
        let mut json = String::with_capacity(frame.iter().map(|e| e.record_json.len() + 64).sum::<usize>() + 128);
        json.push_str(&format!(
            "{{\"seq\":{first},\"prev\":\"{}\",\"records\":[",
            self.last_hash
        ));
        for (i, e) in frame.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str("{\"account\":");
            crate::json_out::push_str(&mut json, &e.account);
            json.push_str(",\"region\":");
            crate::json_out::push_str(&mut json, &e.region);
            json.push_str(",\"record\":");
            json.push_str(&e.record_json);
            json.push('}');
        }
        json.push_str("]}");
        let last = first + frame.len() as u64 - 1;
        frame.clear();
        let compressed = lz4_flex::compress_prepend_size(json.as_bytes());
        match self.key.seal(format!("{AAD_PREFIX}{first}").as_bytes(), &compressed) {
            Ok(sealed) => {
                buf.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
                buf.extend_from_slice(&sealed);
                self.last_hash = hash_hex(&sealed);
                self.last_seq = last;
            }
            Err(e) => {
                tracing::error!(error = %e, "audit trail sealing failed");
                self.failed = Some(e.to_string());
            }
        }
    }

    fn sync(&mut self) -> Result<(), String> {
        if let Some(f) = &self.failed {
            return Err(f.clone());
        }
        if !self.dirty {
            return Ok(());
        }
        self.file.sync_data().map_err(|e| e.to_string())?;
        self.head
            .save(&Head {
                seq: self.last_seq,
                hash: self.last_hash.clone(),
            })
            .map_err(|e| e.to_string())?;
        self.dirty = false;
        Ok(())
    }
}

impl Drop for Trail {
    /// Lets the writer finish what it was given, so a reopened trail sees everything appended.
    fn drop(&mut self) {
        let (tx, _) = mpsc::sync_channel(0);
        let old = std::mem::replace(&mut self.index.get_mut().unwrap_or_else(|p| p.into_inner()).tx, tx);
        drop(old);
        if let Some(h) = self.writer.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> AuditEvent {
        AuditEvent::sample(name)
    }

    fn trail(dir: &Path) -> Trail {
        Trail::open(dir, Arc::new(RootKey::from_bytes(&[3u8; 32]).unwrap())).unwrap()
    }

    #[test]
    fn survives_reopen_and_is_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let t = trail(dir.path());
        for n in ["A", "B", "C"] {
            t.append(event(n)).unwrap();
        }
        t.sync().unwrap();
        drop(t);
        let t = trail(dir.path());
        let names: Vec<String> = t
            .events
            .read()
            .unwrap()
            .recent
            .iter()
            .map(|e| e.event_name.clone())
            .collect();
        assert_eq!(names, ["A", "B", "C"]);
        let raw = std::fs::read(dir.path().join("events.log")).unwrap();
        assert!(!raw.windows(13).any(|w| w == b"MARKER-KEY-ID"));
        let key = Arc::new(RootKey::from_bytes(&[3u8; 32]).unwrap());
        assert_eq!(Trail::verify(dir.path(), key).unwrap().records, 3);
    }

    fn frames(dir: &Path) -> Vec<(usize, usize)> {
        let raw = std::fs::read(dir.join("events.log")).unwrap();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < raw.len() {
            let len = u32::from_be_bytes(raw[pos..pos + 4].try_into().unwrap()) as usize;
            out.push((pos, pos + 4 + len));
            pos += 4 + len;
        }
        out
    }

    #[test]
    fn verify_finds_changed_removed_and_truncated_records() {
        let key = Arc::new(RootKey::from_bytes(&[3u8; 32]).unwrap());
        let fresh = || {
            let dir = tempfile::tempdir().unwrap();
            let t = trail(dir.path());
            // A sync after each append gives each record a frame of its own.
            for n in ["A", "B", "C"] {
                t.append(event(n)).unwrap();
                t.sync().unwrap();
            }
            dir
        };
        // A changed byte.
        let dir = fresh();
        let log = dir.path().join("events.log");
        let mut raw = std::fs::read(&log).unwrap();
        let (s, e) = frames(dir.path())[1];
        raw[(s + e) / 2] ^= 0x40;
        std::fs::write(&log, &raw).unwrap();
        assert!(matches!(
            Trail::verify(dir.path(), key.clone()),
            Err(TrailError::Tampered { seq: 2 })
        ));
        // A removed middle record.
        let dir = fresh();
        let log = dir.path().join("events.log");
        let raw = std::fs::read(&log).unwrap();
        let (s, e) = frames(dir.path())[1];
        let cut: Vec<u8> = raw[..s].iter().chain(&raw[e..]).copied().collect();
        std::fs::write(&log, cut).unwrap();
        assert!(Trail::verify(dir.path(), key.clone()).is_err());
        // The last record removed whole.
        let dir = fresh();
        let log = dir.path().join("events.log");
        let raw = std::fs::read(&log).unwrap();
        let (s, _) = frames(dir.path())[2];
        std::fs::write(&log, &raw[..s]).unwrap();
        assert!(matches!(
            Trail::verify(dir.path(), key.clone()),
            Err(TrailError::Truncated { found: 2, expected: 3 })
        ));
        // Opening refuses damage too, but cuts a torn tail (a crash mid-append).
        let dir = fresh();
        let log = dir.path().join("events.log");
        let mut raw = std::fs::read(&log).unwrap();
        raw.extend_from_slice(&[0, 0, 1, 0, 1, 2]);
        std::fs::write(&log, &raw).unwrap();
        let t = trail(dir.path());
        assert_eq!(t.events.read().unwrap().len(), 3);
        t.append(event("D")).unwrap();
        t.sync().unwrap();
        assert_eq!(Trail::verify(dir.path(), key).unwrap().records, 4);
    }
}
