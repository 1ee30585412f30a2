//! The engine: one per table directory. Writes go WAL -> memtable; a full memtable is frozen and a
//! background thread flushes it to a level-0 SST while another compacts levels ([`crate::version`]);
//! every file is sealed under its own data key from the registry.
//!
//! Write stalls are bounded: a writer waits only while the previous frozen memtable is still being
//! flushed, or while level 0 holds `l0_stop_writes` tables, each of which one flush or one compaction
//! resolves. Flushing never waits for a compaction: a long merge of deep levels would otherwise hold
//! every writer behind the one frozen memtable.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use base::SecretBytes;

use crate::batch::WriteBatch;
use crate::bloom::KeyHash;
use crate::cache::{BlockCache, CacheView};
use crate::error::{Result, StorageError};
use crate::fs::FileSystem;
use crate::keys::{Registry, TableKeyProvider};
use crate::manifest::{self, Manifest};
use crate::memtable::{internal_key, Memtable};
use crate::merge::{retain_sorted, retain_versions, LevelRange, MemRange, Merge, Source};
use crate::sst::{self, Entry, Table};
use crate::version::{Shape, Task, Version};
use crate::wal::{self, Log};
use crate::warm::HotSpans;
use crate::write_buffer::{Member, Membership, WriteBuffers};

#[derive(Debug, Clone)]
pub struct Options {
    /// A memtable larger than this is frozen and flushed in the background.
    pub memtable_bytes: usize,
    /// The memory bound of the cache of decrypted blocks...
    pub block_cache_bytes: usize,
    /// The memory bound of the row cache (a key's newest version in a table file, as a point read found
    /// it; none at zero)...
    pub row_cache_bytes: usize,
    /// ...unless the engine shares this cache with others (a server's tables share one bound).
    pub block_cache: Option<Arc<BlockCache>>,
    /// Level 0 is compacted into level 1 once it holds this many tables...
    pub l0_compaction_trigger: usize,
    /// ...and writes wait while it holds this many.
    pub l0_stop_writes: usize,
    /// Compaction outputs are cut at about this size.
    pub target_file_bytes: usize,
    /// Level 1's size; each deeper level is ten times the one above.
    pub level1_bytes: u64,
    /// Flush and compact on a background thread. Off, the writer that fills the memtable does the work.
    pub background: bool,
    /// A memory bound on the memtables of this engine and others together (a server's tables share one);
    /// without it each engine is bound by `memtable_bytes` alone.
    pub write_buffers: Option<Arc<WriteBuffers>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            memtable_bytes: 16 * 1024 * 1024,
            block_cache_bytes: 64 * 1024 * 1024,
            row_cache_bytes: 0,
            block_cache: None,
            l0_compaction_trigger: 4,
            // RocksDB's level0_stop_writes_trigger. Level 0 is where a burst of writes waits for
            // compaction; stopping writers early (it was 12) made a bulk load 3x slower than letting level
            // 0 grow and merging it in larger, cheaper steps. Point reads skip most of its tables by their
            // bloom filters.
            l0_stop_writes: 36,
            target_file_bytes: 16 * 1024 * 1024,
            // As RocksDB sizes it: about what level 0 holds when it is compacted, so that step is 1:1.
            level1_bytes: 64 * 1024 * 1024,
            background: true,
            write_buffers: None,
        }
    }
}

impl Options {
    /// The engine's view of the shared cache, or of a cache of its own.
    fn cache_view(&self) -> CacheView {
        match &self.block_cache {
            Some(shared) => shared.view(),
            None => BlockCache::with_rows(self.block_cache_bytes, self.row_cache_bytes).view(),
        }
    }

    /// What a WAL segment is reserved to: about the records of one full memtable. A segment that
    /// outgrows it only gets slower commits.
    fn wal_reserve(&self) -> u64 {
        (self.memtable_bytes + self.memtable_bytes / 4) as u64
    }
}

/// A compaction's outputs, written but not yet installed: if it fails first, their warmed blocks leave the
/// cache (no read will reach those files, and their plaintext should not wait for the LRU).
struct Uncommitted<'a> {
    cache: &'a CacheView,
    tables: Vec<Arc<Table>>,
}

impl Drop for Uncommitted<'_> {
    fn drop(&mut self) {
        if !self.tables.is_empty() {
            self.cache
                .forget_files(&self.tables.iter().map(|t| t.file_id).collect::<Vec<_>>());
        }
    }
}

/// A consistent view: reads through it see exactly the writes up to its sequence number. Compaction
/// keeps what a held snapshot can see.
pub struct Snapshot {
    seq: u64,
    held: Arc<Mutex<BTreeMap<u64, usize>>>,
}

impl Snapshot {
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = h.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                h.remove(&self.seq);
            }
        }
    }
}

/// A key range within one structure.
#[derive(Debug, Clone)]
pub struct Range<'a> {
    pub start: Bound<&'a [u8]>,
    pub end: Bound<&'a [u8]>,
    pub reverse: bool,
    pub limit: usize,
}

impl Range<'_> {
    pub fn all() -> Range<'static> {
        Range {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
            reverse: false,
            limit: usize::MAX,
        }
    }
}

/// One file of a table as an operator may see it (`strongroom inspect keys`): its name, the id of the data
/// key that seals it and what it holds, by structure name. Never key material or contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub name: String,
    pub data_key: u64,
    pub role: FileRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRole {
    /// The live manifest: the structures' names and which files make up the table.
    Manifest,
    /// A write-ahead log segment: recent writes of any structure, not yet in a sorted table.
    Log,
    /// A sorted table at `level`, with entries of these structures (a name absent from the manifest, for a
    /// dropped structure whose tombstones compaction has not yet removed, shows as `#id`).
    Sorted { level: usize, structures: Vec<String> },
}

struct Files {
    manifest: Manifest,
    manifest_file: (u64, u64),
}

/// A memtable frozen for flushing, with the WAL segment that began when it was frozen.
#[derive(Clone)]
struct Frozen {
    mem: Arc<Memtable>,
    seq: u64,
    next_wal: u64,
}

#[derive(Default)]
struct BgState {
    flush: bool,
    /// With `flush`: freeze the memtable first, however full (the shared write-buffer bound asks).
    freeze: bool,
    compact: bool,
    shutdown: bool,
    flush_error: Option<String>,
    compact_error: Option<String>,
}

/// The two kinds of background work, each on a thread of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Flush,
    Compact,
}

impl BgState {
    /// Takes the request for `job`, if there is one.
    fn take(&mut self, job: Job) -> bool {
        let asked = match job {
            Job::Flush => &mut self.flush,
            Job::Compact => &mut self.compact,
        };
        std::mem::take(asked)
    }

    fn error_of(&mut self, job: Job) -> &mut Option<String> {
        match job {
            Job::Flush => &mut self.flush_error,
            Job::Compact => &mut self.compact_error,
        }
    }

    fn error(&self) -> Option<&String> {
        self.flush_error.as_ref().or(self.compact_error.as_ref())
    }
}

/// The background threads' mailbox; stalled writers wait on the same condition variable.
#[derive(Default)]
struct Background {
    state: Mutex<BgState>,
    cv: Condvar,
}

pub(crate) struct Core {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    registry: Registry,
    log: Log,
    /// Shared with the WAL writer thread, which applies durable batches to it.
    mem: Arc<RwLock<Arc<Memtable>>>,
    imm: RwLock<Option<Frozen>>,
    version: RwLock<Arc<Version>>,
    files: Mutex<Files>,
    /// Serializes flushes.
    flushing: Mutex<()>,
    /// Serializes compactions. A flush and a compaction run side by side; each installs its change of
    /// the version under `files` ([`Core::edit_version`]).
    compacting: Mutex<()>,
    /// Serializes freezing the memtable.
    freeze: Mutex<()>,
    next_segment: NextSegment,
    held: Arc<Mutex<BTreeMap<u64, usize>>>,
    cache: CacheView,
    options: Options,
    bg: Background,
    /// Set once the engine is started, if it shares a write-buffer bound. Only the engine and its joined
    /// background threads hold the core, so the membership, and what it was counted for, goes with the
    /// engine.
    write_buffers: OnceLock<Membership>,
}

/// The WAL segment the next freeze switches to, prepared by the flush thread after each freeze. Creating
/// a segment (a new data key in `KEYS`, a file, its header and their fsyncs) took 1-4 ms, during which
/// every writer waited; and a segment prepared ahead can be zero-filled, so that its commits' fsyncs have
/// no block allocation to make durable. Only segments that follow one which was filled get prepared, and
/// they are zero-filled only to about what it held: a table that is rarely written keeps holes.
#[derive(Default)]
struct NextSegment {
    /// Under this lock a freeze takes the prepared segment (or creates one itself) and switches to it, so a
    /// segment prepared meanwhile is never older than the one in use.
    slot: Mutex<Option<(u64, Box<dyn wal::AppendFileSegment>)>>,
    /// The id of the segment in use.
    active: AtomicU64,
    /// The bytes the segment before it held when it was switched away from.
    last_used: AtomicU64,
}

/// An open table. Dropping it stops the background threads; what they had not flushed is in the WAL.
pub struct Engine {
    core: Arc<Core>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

fn file_id_of(name: &str) -> Option<u64> {
    name.split('.').next().and_then(|n| n.parse().ok())
}

/// Exclusive upper bound for everything in `structure`.
fn structure_end(structure: u32) -> Vec<u8> {
    match structure.checked_add(1) {
        Some(n) => n.to_be_bytes().to_vec(),
        None => vec![0xff; 5],
    }
}

/// Smallest internal key strictly greater than every key that starts with `k`... for exclusive starts we
/// only need the next key after `k` itself: `k` followed by a zero byte.
fn successor(mut k: Vec<u8>) -> Vec<u8> {
    k.push(0);
    k
}

impl Engine {
    /// A new table in `dir` (which must not hold one), its table key given as the KMS blob and plaintext.
    pub fn create(
        dir: &Path,
        fs: Arc<dyn FileSystem>,
        blob: Vec<u8>,
        table_key: &SecretBytes,
        options: Options,
    ) -> Result<Engine> {
        fs.create_dir_all(dir)?;
        if fs.exists(&Registry::path_in(dir)) {
            return Err(StorageError::corrupt("KEYS", "create", "a table already exists here"));
        }
        let registry = Registry::create(fs.clone(), dir, blob, table_key)?;
        let mkey = registry.new_key()?;
        let m = Manifest {
            next_file_id: 3,
            last_seq: 0,
            wal_id: 2,
            ..Default::default()
        };
        manifest::install(fs.as_ref(), dir, 1, &mkey, &m)?;
        let wkey = registry.new_key()?;
        let segment = wal::create(fs.as_ref(), dir, 2, wkey, options.wal_reserve())?;
        let mem = Arc::new(RwLock::new(Arc::new(Memtable::default())));
        Engine::start(Core {
            dir: dir.to_owned(),
            fs,
            registry,
            log: Log::new(segment, 0, applier(&mem))?,
            mem,
            imm: RwLock::new(None),
            version: RwLock::new(Arc::new(Version::new())),
            files: Mutex::new(Files {
                manifest: m,
                manifest_file: (1, mkey.id),
            }),
            flushing: Mutex::new(()),
            compacting: Mutex::new(()),
            freeze: Mutex::new(()),
            next_segment: NextSegment {
                active: AtomicU64::new(2),
                ..Default::default()
            },
            held: Arc::new(Mutex::new(BTreeMap::new())),
            cache: options.cache_view(),
            options,
            bg: Background::default(),
            write_buffers: OnceLock::new(),
        })
    }

    fn start(core: Core) -> Result<Engine> {
        let core = Arc::new(core);
        if let Some(bound) = &core.options.write_buffers {
            let member: Weak<dyn Member> = Arc::downgrade(&core) as Weak<dyn Member>;
            let _ = core.write_buffers.set(bound.join(member));
            core.report_held();
        }
        let mut engine = Engine {
            core: core.clone(),
            workers: Vec::new(),
        };
        if core.options.background {
            for (job, name) in [(Job::Flush, "storage-flush"), (Job::Compact, "storage-compact")] {
                let c = core.clone();
                // On failure `engine` drops here and stops the thread already started.
                let worker = std::thread::Builder::new()
                    .name(name.into())
                    .spawn(move || c.background_loop(job))
                    .map_err(StorageError::io(core.dir.clone()))?;
                engine.workers.push(worker);
            }
        }
        Ok(engine)
    }

    /// Opens a table: the table key from `provider`, the manifest, its SSTs, and a replay of the WAL.
    pub fn open(
        dir: &Path,
        fs: Arc<dyn FileSystem>,
        provider: &dyn TableKeyProvider,
        options: Options,
    ) -> Result<Engine> {
        let registry = Registry::open(fs.clone(), dir, provider)?;
        let key_for = |id: u64| registry.get(id, "manifest");
        let (mut m, manifest_id, manifest_key) = manifest::load(fs.as_ref(), dir, &key_for)?;
        let names = fs.list(dir)?;
        // Allocate past every file on disk: a crash may have left files the manifest does not name yet.
        let max_on_disk = names.iter().filter_map(|n| file_id_of(n)).max().unwrap_or(0);
        m.next_file_id = m.next_file_id.max(max_on_disk + 1);
        let cache = options.cache_view();
        let mut tables = Vec::new();
        for (level, id) in &m.tables {
            let key_for = |k: u64| registry.get(k, &sst::file_name(*id));
            tables.push((
                *level,
                Arc::new(Table::open(fs.clone(), sst::path(dir, *id), &key_for, cache.clone())?),
            ));
        }
        let mem = Memtable::default();
        let mut last_seq = m.last_seq;
        let mut wal_ids: Vec<u64> = names
            .iter()
            .filter(|n| n.ends_with(".wal"))
            .filter_map(|n| file_id_of(n))
            .filter(|id| *id >= m.wal_id)
            .collect();
        wal_ids.sort_unstable();
        let newest = wal_ids.last().copied();
        for id in &wal_ids {
            let path = wal::path(dir, *id);
            // A crash while a new segment was being created can leave it without a whole header; it never
            // held a record (records follow the header), so it goes.
            if Some(*id) == newest && fs.size(&path)? < crate::seal::HEADER_LEN as u64 {
                fs.remove(&path)?;
                continue;
            }
            let key_for = |k: u64| registry.get(k, &wal::file_name(*id));
            let replayed = wal::replay(fs.as_ref(), &path, &key_for)?;
            for (seq, batch) in &replayed.batches {
                if *seq > m.last_seq {
                    mem.apply(*seq, batch);
                    last_seq = last_seq.max(*seq);
                }
            }
            if replayed.valid_len < fs.size(&path)? {
                fs.truncate(&path, replayed.valid_len)?;
            }
        }
        // Never append to a recovered segment: a torn record's offset would be sealed again under the same
        // key and nonce. A new segment takes new writes.
        let new_wal = m.next_file_id;
        m.next_file_id += 1;
        let segment = wal::create(fs.as_ref(), dir, new_wal, registry.new_key()?, options.wal_reserve())?;
        let mem = Arc::new(RwLock::new(Arc::new(mem)));
        let core = Core {
            dir: dir.to_owned(),
            fs,
            registry,
            log: Log::new(segment, last_seq, applier(&mem))?,
            mem,
            imm: RwLock::new(None),
            version: RwLock::new(Arc::new(Version::from_tables(tables))),
            files: Mutex::new(Files {
                manifest: m,
                manifest_file: (manifest_id, manifest_key),
            }),
            flushing: Mutex::new(()),
            compacting: Mutex::new(()),
            freeze: Mutex::new(()),
            next_segment: NextSegment {
                active: AtomicU64::new(new_wal),
                ..Default::default()
            },
            held: Arc::new(Mutex::new(BTreeMap::new())),
            cache,
            options,
            bg: Background::default(),
            write_buffers: OnceLock::new(),
        };
        core.remove_orphans(&names)?;
        Engine::start(core)
    }
}

/// What the WAL writer does with a durable batch: applies it to the current memtable.
fn applier(mem: &Arc<RwLock<Arc<Memtable>>>) -> wal::Apply {
    let mem = mem.clone();
    Box::new(move |seq, batch| mem.read().unwrap_or_else(|p| p.into_inner()).apply(seq, batch))
}

impl Core {
    /// Deletes files a crash left behind (SSTs and manifests no manifest names, flushed WAL segments) and
    /// forgets data keys no file uses.
    fn remove_orphans(&self, names: &[String]) -> Result<()> {
        let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let live_wal = self.log_file_ids(&files.manifest, names);
        let mut keep_keys = vec![files.manifest_file.1];
        for n in names {
            let Some(id) = file_id_of(n) else { continue };
            let path = self.dir.join(n);
            let orphan = (n.ends_with(".sst") && !files.manifest.tables.iter().any(|(_, t)| *t == id))
                || (n.ends_with(".manifest") && id != files.manifest_file.0)
                || (n.ends_with(".wal") && !live_wal.contains(&id))
                || n.ends_with(".tmp");
            if orphan {
                self.fs.remove(&path)?;
            }
        }
        for t in self.current().all() {
            keep_keys.push(t.key_id);
        }
        for id in live_wal.iter().chain(std::iter::once(&self.current_wal_id())) {
            if let Ok(raw) = self.fs.read_at(&wal::path(&self.dir, *id), 0, crate::seal::HEADER_LEN) {
                if let Ok((_, k)) = crate::seal::parse_header(&raw, wal::MAGIC, "wal") {
                    keep_keys.push(k);
                }
            }
        }
        let unused: Vec<u64> = self
            .registry
            .key_ids()
            .into_iter()
            .filter(|k| !keep_keys.contains(k))
            .collect();
        if !unused.is_empty() {
            self.registry.remove(&unused)?;
        }
        Ok(())
    }

    fn files(&self) -> Result<Vec<FileReport>> {
        let (manifest, (manifest_id, manifest_key)) = {
            let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            (files.manifest.clone(), files.manifest_file)
        };
        let names: BTreeMap<u32, &str> = manifest
            .structures
            .iter()
            .map(|(name, id)| (*id, name.as_str()))
            .collect();
        let mut out = vec![FileReport {
            name: manifest::file_name(manifest_id),
            data_key: manifest_key,
            role: FileRole::Manifest,
        }];
        let listed = self.fs.list(&self.dir)?;
        let mut logs = self.log_file_ids(&manifest, &listed);
        logs.sort_unstable();
        logs.dedup();
        for id in logs {
            let name = wal::file_name(id);
            let header = self.fs.read_at(&wal::path(&self.dir, id), 0, crate::seal::HEADER_LEN)?;
            let (_, data_key) = crate::seal::parse_header(&header, wal::MAGIC, &name)?;
            out.push(FileReport {
                name,
                data_key,
                role: FileRole::Log,
            });
        }
        let version = self.current();
        for (level, tables) in version.levels.iter().enumerate() {
            for t in tables {
                let structures = t
                    .structures()?
                    .into_iter()
                    .map(|id| names.get(&id).map_or_else(|| format!("#{id}"), |n| (*n).to_owned()))
                    .collect();
                out.push(FileReport {
                    name: sst::file_name(t.file_id),
                    data_key: t.key_id,
                    role: FileRole::Sorted { level, structures },
                });
            }
        }
        Ok(out)
    }

    fn log_file_ids(&self, m: &Manifest, names: &[String]) -> Vec<u64> {
        let mut ids: Vec<u64> = names
            .iter()
            .filter(|n| n.ends_with(".wal"))
            .filter_map(|n| file_id_of(n))
            .filter(|id| *id >= m.wal_id)
            .collect();
        ids.push(self.current_wal_id());
        ids
    }

    fn current_wal_id(&self) -> u64 {
        // The newest segment has the highest id of any WAL file.
        self.fs
            .list(&self.dir)
            .unwrap_or_default()
            .iter()
            .filter(|n| n.ends_with(".wal"))
            .filter_map(|n| file_id_of(n))
            .max()
            .unwrap_or(0)
    }

    // ---- structures ----------------------------------------------------------------------------------

    pub fn structure(&self, name: &str) -> Option<u32> {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .manifest
            .structures
            .get(name)
            .copied()
    }

    /// The id of structure `name`, creating it if it does not exist.
    pub fn create_structure(&self, name: &str) -> Result<u32> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = files.manifest.structures.get(name) {
            return Ok(*id);
        }
        let id = files.manifest.structures.values().max().map_or(1, |m| m + 1);
        let mut next = files.manifest.clone();
        next.structures.insert(name.to_owned(), id);
        self.install(&mut files, next)?;
        Ok(id)
    }

    /// Writes a new manifest version and makes it current; the old one and its key go.
    fn install(&self, files: &mut Files, mut next: Manifest) -> Result<()> {
        let id = next.next_file_id;
        next.next_file_id += 1;
        let key = self.registry.new_key()?;
        manifest::install(self.fs.as_ref(), &self.dir, id, &key, &next)?;
        let (old_id, old_key) = files.manifest_file;
        files.manifest = next;
        files.manifest_file = (id, key.id);
        self.fs.remove(&self.dir.join(manifest::file_name(old_id)))?;
        self.registry.remove(&[old_key])
    }

    fn allocate_file_id(&self) -> u64 {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let id = files.manifest.next_file_id;
        files.manifest.next_file_id += 1;
        id
    }

    // ---- writes --------------------------------------------------------------------------------------

    fn write(&self, batch: WriteBatch) -> Result<u64> {
        if batch.is_empty() {
            return Ok(self.log.durable_seq());
        }
        self.make_room()?;
        self.log.commit(batch)
    }

    fn write_async(&self, batch: WriteBatch) -> wal::Commit {
        if let Err(e) = self.make_room() {
            return wal::Commit::failed(e);
        }
        self.log.commit_async(batch)
    }

    fn mem_full(&self) -> bool {
        self.mem.read().unwrap_or_else(|p| p.into_inner()).approximate_bytes() >= self.options.memtable_bytes
    }

    fn current(&self) -> Arc<Version> {
        self.version.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Freezes a full memtable, waiting first (the only write stall) while the previous one is still being
    /// flushed or level 0 is at its limit.
    fn make_room(&self) -> Result<()> {
        self.report_held();
        if !self.mem_full() {
            return Ok(());
        }
        let _f = self.freeze.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if !self.mem_full() {
                return Ok(());
            }
            if !self.options.background {
                if self.imm.read().unwrap_or_else(|p| p.into_inner()).is_none() {
                    self.freeze_memtable()?;
                }
                self.flush_frozen()?;
                self.compact_due()?;
                continue;
            }
            // The condition is checked under the lock the background threads notify under: no wakeup is
            // missed between the check and the wait.
            let st = self.bg.state.lock().unwrap_or_else(|p| p.into_inner());
            let busy = self.imm.read().unwrap_or_else(|p| p.into_inner()).is_some();
            if !busy && self.current().l0_count() < self.options.l0_stop_writes {
                drop(st);
                self.freeze_memtable()?;
                self.wake();
                return Ok(());
            }
            if let Some(e) = st.error() {
                return Err(StorageError::Maintenance(e.clone()));
            }
            let _ = self.bg.cv.wait_timeout(st, Duration::from_millis(100));
        }
    }

    /// Moves the memtable to `imm` and starts a new WAL segment, with no write in flight.
    fn freeze_memtable(&self) -> Result<()> {
        let next = &self.next_segment;
        let mut slot = next.slot.lock().unwrap_or_else(|p| p.into_inner());
        let (wal_id, segment) = match slot.take() {
            Some(prepared) => prepared,
            None => self.new_segment(None)?,
        };
        next.active.store(wal_id, Ordering::Release);
        self.log.switch_with(segment, |durable, used| {
            next.last_used.store(used, Ordering::Relaxed);
            let old = self.mem.read().unwrap_or_else(|p| p.into_inner()).clone();
            // `imm` before `mem`: a reader looks at `mem` first, then `imm`, so it sees the frozen
            // entries in one of them.
            *self.imm.write().unwrap_or_else(|p| p.into_inner()) = Some(Frozen {
                mem: old,
                seq: durable,
                next_wal: wal_id,
            });
            *self.mem.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Memtable::default());
        })
    }

    /// A WAL segment under a new file id and data key: made ahead, with `zeroed` bytes of written zeros
    /// ([`wal::prepare`]), or now, while writers wait ([`wal::create`]).
    fn new_segment(&self, zeroed: Option<u64>) -> Result<(u64, Box<dyn wal::AppendFileSegment>)> {
        let id = self.allocate_file_id();
        let (fs, dir, key, reserve) = (
            self.fs.as_ref(),
            &self.dir,
            self.registry.new_key()?,
            self.options.wal_reserve(),
        );
        let segment = match zeroed {
            Some(zeroed) => wal::prepare(fs, dir, id, key, zeroed, reserve)?,
            None => wal::create(fs, dir, id, key, reserve)?,
        };
        Ok((id, segment))
    }

    /// Prepares the segment the next freeze switches to (see [`NextSegment`]), unless one is waiting or
    /// no segment has been filled yet.
    fn prepare_next_segment(&self) -> Result<()> {
        let next = &self.next_segment;
        let used = next.last_used.load(Ordering::Relaxed);
        if used == 0 || next.slot.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return Ok(());
        }
        let (id, segment) = self.new_segment(Some((used + used / 4).min(self.options.wal_reserve())))?;
        let mut slot = next.slot.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() && id > next.active.load(Ordering::Acquire) {
            *slot = Some((id, segment));
            return Ok(());
        }
        // A freeze that found no segment waiting made its own meanwhile, newer than this one.
        drop(slot);
        drop(segment);
        self.fs.remove(&wal::path(&self.dir, id))
    }

    /// Freezes the memtable however full it is, if it holds anything and no frozen one is waiting (the
    /// shared write-buffer bound asked; a waiting one is flushed first, and the bound asks again).
    fn freeze_early(&self) -> Result<()> {
        let _f = self.freeze.lock().unwrap_or_else(|p| p.into_inner());
        let waiting = self.imm.read().unwrap_or_else(|p| p.into_inner()).is_some();
        let empty = self.mem.read().unwrap_or_else(|p| p.into_inner()).approximate_bytes() == 0;
        if waiting || empty {
            return Ok(());
        }
        self.freeze_memtable()
    }

    /// Bytes the memtables (the live one and one being flushed) hold.
    fn held_bytes(&self) -> usize {
        let frozen = self
            .imm
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |f| f.mem.approximate_bytes());
        frozen + self.mem.read().unwrap_or_else(|p| p.into_inner()).approximate_bytes()
    }

    /// Tells the shared write-buffer bound, if there is one, what the memtables hold now.
    fn report_held(&self) {
        if let Some(m) = self.write_buffers.get() {
            m.report(self.held_bytes());
        }
    }

    /// Tells stalled writers that a flush or compaction finished. Notifying under the lock they check
    /// their condition under means none of them can miss it.
    fn notify_progress(&self) {
        let _st = self.bg.state.lock().unwrap_or_else(|p| p.into_inner());
        self.bg.cv.notify_all();
    }

    fn wake(&self) {
        self.bg.state.lock().unwrap_or_else(|p| p.into_inner()).flush = true;
        self.bg.cv.notify_all();
    }

    // ---- reads ---------------------------------------------------------------------------------------

    fn snapshot(&self) -> Snapshot {
        let seq = self.log.durable_seq();
        *self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(seq)
            .or_insert(0) += 1;
        Snapshot {
            seq,
            held: self.held.clone(),
        }
    }

    /// The memtable, the frozen one and the tables, read in that order: a freeze sets `imm` before `mem`
    /// and a flush adds the table before clearing `imm`, so every entry is seen in at least one of them.
    fn sources(&self) -> (Arc<Memtable>, Option<Arc<Memtable>>, Arc<Version>) {
        let mem = self.mem.read().unwrap_or_else(|p| p.into_inner()).clone();
        let imm = self
            .imm
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|f| f.mem.clone());
        (mem, imm, self.current())
    }

    fn get(&self, structure: u32, key: &[u8], snapshot: Option<&Snapshot>, fill_rows: bool) -> Result<Option<Vec<u8>>> {
        let seq = snapshot.map_or_else(|| self.log.durable_seq(), |s| s.seq);
        let ik = internal_key(structure, key);
        let (mem, imm, version) = self.sources();
        // The sources are newest first for any one key: the memtable, the frozen one, level 0 newest table
        // first (one memtable is flushed at a time, and a level-0 compaction takes every level-0 table there
        // is), then one table a deeper level (a key's versions move down only through the levels above,
        // merged with what they meet). So the first version found at or below the snapshot is the one to
        // return, and the tables below it need not be read: on a table whose keys are rewritten, a key's
        // older versions sit in several levels at once.
        if let Some((_, v)) = mem.get(&ik, seq) {
            return Ok(v);
        }
        if let Some((_, v)) = imm.as_ref().and_then(|m| m.get(&ik, seq)) {
            return Ok(v);
        }
        let hash = KeyHash::of(&ik);
        for t in version.for_key(&ik) {
            if let Some((_, v)) = t.get(&ik, hash, seq, fill_rows)? {
                return Ok(v);
            }
        }
        Ok(None)
    }

    fn range(&self, structure: u32, range: &Range<'_>, snapshot: Option<&Snapshot>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let seq = snapshot.map_or_else(|| self.log.durable_seq(), |s| s.seq);
        let start = match range.start {
            Bound::Included(k) => internal_key(structure, k),
            Bound::Excluded(k) => successor(internal_key(structure, k)),
            Bound::Unbounded => structure.to_be_bytes().to_vec(),
        };
        let end = match range.end {
            Bound::Excluded(k) => internal_key(structure, k),
            Bound::Included(k) => successor(internal_key(structure, k)),
            Bound::Unbounded => structure_end(structure),
        };
        if start >= end || range.limit == 0 {
            return Ok(Vec::new());
        }
        let (mem, imm, version) = self.sources();
        let mut sources: Vec<Source> = vec![Source::Mem(MemRange::new(mem, &start, &end, range.reverse, seq))];
        if let Some(m) = imm {
            sources.push(Source::Mem(MemRange::new(m, &start, &end, range.reverse, seq)));
        }
        // Level 0's tables overlap one another, so each is a source of its own; a deeper level is one
        // source that opens its tables one after another.
        for t in version.levels[0].iter().filter(|t| t.overlaps(&start, &end)) {
            sources.push(Source::Table(t.range(&start, &end, range.reverse)));
        }
        for level in 1..version.levels.len() {
            let tables = version.in_range(level, &start, &end);
            if !tables.is_empty() {
                sources.push(Source::Level(LevelRange::new(
                    tables.to_vec(),
                    &start,
                    &end,
                    range.reverse,
                )));
            }
        }
        let mut merge = Merge::new(sources, range.reverse)?;
        let mut out = Vec::new();
        let mut current: Option<Vec<u8>> = None;
        let mut decided = false;
        while let Some((k, s, v)) = merge.next_entry()? {
            if current.as_deref() != Some(k.as_slice()) {
                current = Some(k.clone());
                decided = false;
            }
            // Versions of one key arrive newest first: the first at or below the snapshot decides.
            if decided || s > seq {
                continue;
            }
            decided = true;
            if let Some(v) = v {
                out.push((k[4..].to_vec(), v));
                if out.len() >= range.limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    // ---- maintenance ---------------------------------------------------------------------------------

    fn background_loop(&self, job: Job) {
        loop {
            let freeze;
            {
                let mut st = self.bg.state.lock().unwrap_or_else(|p| p.into_inner());
                if !st.take(job) && !st.shutdown {
                    // Wakes now and then even unasked, to retry after a failure.
                    st = self
                        .bg
                        .cv
                        .wait_timeout(st, Duration::from_secs(1))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    st.take(job);
                }
                if st.shutdown {
                    return;
                }
                freeze = job == Job::Flush && std::mem::take(&mut st.freeze);
            }
            let outcome = match job {
                Job::Flush if freeze => self.freeze_early().and_then(|()| self.flush_frozen()),
                Job::Flush => self.flush_frozen(),
                Job::Compact => self.compact_due(),
            };
            if job == Job::Flush {
                if let Err(e) = self.prepare_next_segment() {
                    // Not an error of the engine's: the next freeze creates its segment itself.
                    tracing::warn!(error = %e, dir = %self.dir.display(), "could not prepare the next WAL segment");
                }
            }
            let mut st = self.bg.state.lock().unwrap_or_else(|p| p.into_inner());
            *st.error_of(job) = match outcome {
                Ok(()) => None,
                Err(e) => {
                    tracing::error!(error = %e, dir = %self.dir.display(), ?job, "storage maintenance failed");
                    Some(e.to_string())
                }
            };
            // A new level-0 table may make a compaction due.
            if job == Job::Flush {
                st.compact = true;
            }
            drop(st);
            self.bg.cv.notify_all();
        }
    }

    /// Makes `edit` of the current version current, with a manifest naming its tables (and whatever
    /// `manifest` changes besides). Under `files`, so a flush and a compaction finishing at once both land.
    fn edit_version(&self, edit: impl FnOnce(&Version) -> Version, manifest: impl FnOnce(&mut Manifest)) -> Result<()> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let version = edit(&self.current());
        let mut next = files.manifest.clone();
        next.tables = version.manifest_tables();
        manifest(&mut next);
        self.install(&mut files, next)?;
        *self.version.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(version);
        Ok(())
    }

    /// Writes the frozen memtable as a level-0 SST, then drops the WAL segments it came from.
    fn flush_frozen(&self) -> Result<()> {
        let _f = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let Some(frozen) = self.imm.read().unwrap_or_else(|p| p.into_inner()).clone() else {
            return Ok(());
        };
        // Versions no snapshot can read again need not reach the disk: a key overwritten a thousand
        // times between two flushes is written once. Deletions stay: older tables may hold the key.
        let entries = retain_sorted(frozen.mem.entries(), self.oldest_snapshot(), false);
        let table = match entries.is_empty() {
            true => None,
            false => Some(self.write_table(&entries, None)?),
        };
        let mut old_wals = Vec::new();
        self.edit_version(
            |current| {
                let mut v = current.clone();
                v.levels[0].extend(table);
                v
            },
            |next| {
                old_wals = (next.wal_id..frozen.next_wal).collect();
                next.wal_id = frozen.next_wal;
                next.last_seq = next.last_seq.max(frozen.seq);
            },
        )?;
        *self.imm.write().unwrap_or_else(|p| p.into_inner()) = None;
        crate::stats::flushed();
        self.report_held();
        self.notify_progress();
        self.drop_files(old_wals.iter().map(|id| wal::path(&self.dir, *id)).collect())
    }

    /// A new SST of `entries` (sorted) under a new data key, opened. With `hot`, the blocks that overlap
    /// its spans are cached as they are written (a compaction's output, see `warm`).
    fn write_table(&self, entries: &[Entry], hot: Option<&mut HotSpans>) -> Result<Arc<Table>> {
        let sst_id = self.allocate_file_id();
        let key = self.registry.new_key()?;
        let warm = hot.filter(|h| !h.is_empty()).map(|h| (&self.cache, h));
        if let Err(e) = sst::write(self.fs.as_ref(), &self.dir, sst_id, &key, entries, warm) {
            // Whatever it cached of a file that will never be read.
            self.cache.forget_files(&[sst_id]);
            return Err(e);
        }
        let key_for = |_: u64| Ok(key.clone());
        Ok(Arc::new(Table::open(
            self.fs.clone(),
            sst::path(&self.dir, sst_id),
            &key_for,
            self.cache.clone(),
        )?))
    }

    /// Removes files and the data keys in their headers.
    fn drop_files(&self, paths: Vec<PathBuf>) -> Result<()> {
        let mut keys = Vec::new();
        for p in paths {
            if let Some(k) = self
                .fs
                .read_at(&p, 0, crate::seal::HEADER_LEN)
                .ok()
                .and_then(|h| crate::seal::header_key_id(&h))
            {
                keys.push(k);
            }
            self.fs.remove(&p)?;
        }
        if keys.is_empty() {
            return Ok(());
        }
        self.registry.remove(&keys)
    }

    fn shape(&self) -> Shape {
        Shape {
            l0_trigger: self.options.l0_compaction_trigger,
            level1_bytes: self.options.level1_bytes,
        }
    }

    /// Runs compactions until none is due.
    fn compact_due(&self) -> Result<()> {
        loop {
            let _c = self.compacting.lock().unwrap_or_else(|p| p.into_inner());
            let Some(task) = self.current().pick(self.shape()) else {
                return Ok(());
            };
            self.run(task)?;
        }
    }

    fn oldest_snapshot(&self) -> u64 {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .next()
            .copied()
            .unwrap_or(u64::MAX)
            .min(self.log.durable_seq())
    }

    /// Merges a task's inputs into new tables of its output level (new files, new data keys), swaps them
    /// in, and deletes the inputs and their keys (crypto-shredding). Call with `compacting` held.
    fn run(&self, task: Task) -> Result<()> {
        let oldest = self.oldest_snapshot();
        // Taken before the merge reads anything: its reads do not fill the cache, but the engine's own
        // point reads go on meanwhile.
        let mut hot = HotSpans::new(task.inputs.iter().flat_map(|t| t.cached_spans()).collect());
        let sources = task.inputs.iter().map(|t| Source::Scan(t.iter_all())).collect();
        let mut merge = Merge::new(sources, false)?;
        // Per input, the blocks already dropped from the cache.
        let mut forgotten = vec![0usize; task.inputs.len()];
        let mut outputs = Uncommitted {
            cache: &self.cache,
            tables: Vec::new(),
        };
        let mut pending: Vec<Entry> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut group: Vec<Entry> = Vec::new();
        let finish_group = |group: &mut Vec<Entry>, pending: &mut Vec<Entry>, pending_bytes: &mut usize| {
            retain_versions(group, oldest, task.bottommost);
            for e in group.drain(..) {
                *pending_bytes += e.0.len() + e.2.as_ref().map_or(0, Vec::len) + 16;
                pending.push(e);
            }
        };
        while let Some(e) = merge.next_entry()? {
            if group.first().is_some_and(|g| g.0 != e.0) {
                finish_group(&mut group, &mut pending, &mut pending_bytes);
                // Cut between keys only, so tables of a level never share a key.
                if pending_bytes >= self.options.target_file_bytes {
                    outputs.tables.push(self.write_table(&pending, Some(&mut hot))?);
                    // The inputs' blocks up to here now have warm copies in the output: dropped as the
                    // merge goes, the cache holds a hot range twice for one output's worth of keys, not
                    // for the whole compaction. A read of them meanwhile loads them again.
                    if let Some(last) = pending.last() {
                        for (t, through) in task.inputs.iter().zip(forgotten.iter_mut()) {
                            *through = t.forget_cached_blocks(*through, &last.0);
                        }
                    }
                    pending.clear();
                    pending_bytes = 0;
                }
            }
            group.push(e);
        }
        finish_group(&mut group, &mut pending, &mut pending_bytes);
        if !pending.is_empty() {
            outputs.tables.push(self.write_table(&pending, Some(&mut hot))?);
        }
        // Against the version current now, not the one the task was picked from: level-0 tables flushed
        // meanwhile stay, above the task's outputs.
        self.edit_version(|current| current.apply(&task, outputs.tables.clone()), |_| {})?;
        outputs.tables.clear();
        self.cache
            .forget_files(&task.inputs.iter().map(|t| t.file_id).collect::<Vec<_>>());
        crate::stats::compacted();
        self.notify_progress();
        self.drop_files(task.inputs.iter().map(|t| sst::path(&self.dir, t.file_id)).collect())
    }

    /// Flushes everything written so far, synchronously.
    fn flush(&self) -> Result<()> {
        {
            let _f = self.freeze.lock().unwrap_or_else(|p| p.into_inner());
            self.flush_frozen()?;
            if !self.mem.read().unwrap_or_else(|p| p.into_inner()).is_empty() {
                self.freeze_memtable()?;
            }
        }
        self.flush_frozen()
    }

    /// Flushes, then merges every table into the deepest level in use, keeping only what the newest state
    /// and held snapshots can see.
    fn compact(&self) -> Result<()> {
        self.flush()?;
        let _c = self.compacting.lock().unwrap_or_else(|p| p.into_inner());
        match self.current().full() {
            Some(task) => self.run(task),
            None => Ok(()),
        }
    }

    /// Copies a consistent state of the table into `dest` (a new directory): everything written before
    /// the call, sealed exactly as here, under the same table key. Writes go on meanwhile.
    fn checkpoint(&self, dest: &Path) -> Result<u64> {
        self.flush()?;
        // Holding both keeps the manifest and every file of the current version in place while they are
        // copied. Always `flushing` before `compacting`.
        let _f = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let _c = self.compacting.lock().unwrap_or_else(|p| p.into_inner());
        if self.fs.exists(&Registry::path_in(dest)) {
            return Err(StorageError::corrupt(
                "KEYS",
                "checkpoint",
                "the destination already holds a table",
            ));
        }
        self.fs.create_dir_all(dest)?;
        let (manifest_name, last_seq) = {
            let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            (manifest::file_name(files.manifest_file.0), files.manifest.last_seq)
        };
        for t in self.current().all() {
            let name = sst::file_name(t.file_id);
            self.copy_file(&self.dir.join(&name), &dest.join(&name))?;
        }
        self.copy_file(&self.dir.join(&manifest_name), &dest.join(&manifest_name))?;
        // The registry last: it then holds the key of every file copied (keys of other files are
        // forgotten when the copy is opened).
        self.copy_file(&Registry::path_in(&self.dir), &Registry::path_in(dest))?;
        self.fs
            .write_atomic(&dest.join(manifest::CURRENT), format!("{manifest_name}\n").as_bytes())?;
        Ok(last_seq)
    }

    fn copy_file(&self, from: &Path, to: &Path) -> Result<()> {
        const PIECE: u64 = 1 << 20;
        let size = self.fs.size(from)?;
        let mut out = self.fs.create(to)?;
        let mut at = 0;
        while at < size {
            let n = PIECE.min(size - at);
            out.append(&self.fs.read_at(from, at, n as usize)?)?;
            at += n;
        }
        out.sync()
    }

    /// Deletes every entry of a structure (tombstones that compaction later drops) and forgets its name.
    fn drop_structure(&self, name: &str) -> Result<()> {
        let Some(id) = self.structure(name) else {
            return Err(StorageError::UnknownStructure(name.to_owned()));
        };
        loop {
            let page = self.range(
                id,
                &Range {
                    limit: 1000,
                    ..Range::all()
                },
                None,
            )?;
            if page.is_empty() {
                break;
            }
            let mut batch = WriteBatch::new();
            for (k, _) in &page {
                batch.delete(id, k);
            }
            self.write(batch)?;
        }
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = files.manifest.clone();
        next.structures.remove(name);
        self.install(&mut files, next)
    }
}

impl Engine {
    /// Applies `batch` atomically and durably; returns its sequence number. Readers never see a later
    /// write without every earlier one.
    pub fn write(&self, batch: WriteBatch) -> Result<u64> {
        self.core.write(batch)
    }

    /// [`Engine::write`] for async callers: the returned future resolves once the batch is durable, and no
    /// thread waits for it meanwhile. Only a write stall (a full memtable whose predecessor is still being
    /// flushed, or a full level 0) blocks the calling thread, as it would block [`Engine::write`];
    /// [`Engine::write_would_wait`] tells when that may happen.
    pub fn write_async(&self, batch: WriteBatch) -> wal::Commit {
        if batch.is_empty() {
            return wal::Commit::done(self.core.log.durable_seq());
        }
        self.core.write_async(batch)
    }

    /// Whether a write now would first have to make room (freeze the memtable, perhaps wait for a flush).
    pub fn write_would_wait(&self) -> bool {
        self.core.mem_full()
    }

    /// Bytes the memtables (the live one and one being flushed) hold.
    pub fn memtable_bytes(&self) -> usize {
        self.core.held_bytes()
    }

    /// A consistent view for reads.
    pub fn snapshot(&self) -> Snapshot {
        self.core.snapshot()
    }

    pub fn get(&self, structure: u32, key: &[u8], snapshot: Option<&Snapshot>) -> Result<Option<Vec<u8>>> {
        self.core.get(structure, key, snapshot, true)
    }

    /// [`Engine::get`] for a read that a write of the same key follows (a read-modify-write): it looks in
    /// the row cache but does not fill it. Once the write lands, the key's newest version is in the
    /// memtable, and later reads stop there (or, after a flush, at the newer file), so a row cached from
    /// the file read here would never be read again: it would only push out rows that are.
    pub fn get_for_update(&self, structure: u32, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.core.get(structure, key, None, false)
    }

    /// Live `(key, value)` pairs of `structure` in `range`, at most `range.limit` of them.
    pub fn range(
        &self,
        structure: u32,
        range: &Range<'_>,
        snapshot: Option<&Snapshot>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.core.range(structure, range, snapshot)
    }

    pub fn structure(&self, name: &str) -> Option<u32> {
        self.core.structure(name)
    }

    /// The id of structure `name`, creating it if it does not exist.
    pub fn create_structure(&self, name: &str) -> Result<u32> {
        self.core.create_structure(name)
    }

    /// Deletes a structure's entries and its name. Its id may be given to a later structure.
    pub fn drop_structure(&self, name: &str) -> Result<()> {
        self.core.drop_structure(name)
    }

    /// Turns everything written so far into SSTs and drops the WAL segments it came from.
    pub fn flush(&self) -> Result<()> {
        self.core.flush()
    }

    /// A full compaction: every table merged into one sorted run, under new data keys.
    pub fn compact(&self) -> Result<()> {
        self.core.compact()
    }

    /// Copies the table as of now into the new directory `dest` (for backups); returns the sequence
    /// number the copy holds everything up to. The copy opens with the same table key.
    pub fn checkpoint(&self, dest: &Path) -> Result<u64> {
        self.core.checkpoint(dest)
    }

    /// Runs the compactions due now on the calling thread, so that none is due when it returns (the
    /// compaction thread may be in one: this waits for it). For tests and tools that need a settled shape.
    pub fn settle(&self) -> Result<()> {
        self.core.compact_due()
    }

    /// Tables per level, level 0 first.
    pub fn level_counts(&self) -> Vec<usize> {
        self.core.current().levels.iter().map(Vec::len).collect()
    }

    /// `(bytes held, hits, misses)` of the block cache (a shared one's, over every engine it serves).
    pub fn cache_stats(&self) -> (usize, u64, u64) {
        self.core.cache.stats()
    }

    /// A key switch: the registry re-wraps every data key under the new table key. No data is rewritten.
    pub fn rewrap(&self, blob: Vec<u8>, table_key: &SecretBytes) -> Result<()> {
        self.core.registry.rewrap(blob, table_key)
    }

    pub fn table_key_blob(&self) -> Vec<u8> {
        self.core.registry.blob()
    }

    /// The table key's KMS blob of the engine in `dir`, read from its key registry without opening it (the
    /// blob is the registry's plaintext header; nothing is unwrapped).
    pub fn table_key_blob_in(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u8>> {
        Ok(Self::registry_in(fs, dir)?.0)
    }

    /// The key registry of the engine in `dir`, without opening it: the table key's KMS blob and the ids
    /// of the data keys wrapped under it (never any key material).
    pub fn registry_in(fs: &dyn FileSystem, dir: &Path) -> Result<(Vec<u8>, Vec<u64>)> {
        let raw = fs.read_all(&crate::keys::Registry::path_in(dir))?;
        let parsed = crate::keys::parse(&raw)?;
        Ok((parsed.blob, parsed.wrapped.keys().copied().collect()))
    }

    /// Every live file of the table with its data key and contents by structure, for `inspect keys`.
    pub fn files(&self) -> Result<Vec<FileReport>> {
        self.core.files()
    }

    pub fn dir(&self) -> &Path {
        &self.core.dir
    }
}

impl Member for Core {
    fn request_flush(&self) {
        // An engine without background threads flushes only as its own writers fill it.
        if self.options.background {
            let mut st = self.bg.state.lock().unwrap_or_else(|p| p.into_inner());
            st.freeze = true;
            st.flush = true;
            drop(st);
            self.bg.cv.notify_all();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        {
            let mut st = self.core.bg.state.lock().unwrap_or_else(|p| p.into_inner());
            st.shutdown = true;
        }
        self.core.bg.cv.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // A shared cache outlives the engine; the engine's plaintext blocks should not.
        self.cache.forget_all();
    }
}
