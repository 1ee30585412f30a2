//! The engine: one per table directory. Writes go WAL -> memtable; flushes turn a memtable into an SST;
//! compaction merges SSTs; every file is sealed under its own data key from the registry.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use base::SecretBytes;

use crate::batch::WriteBatch;
use crate::cache::BlockCache;
use crate::error::{Result, StorageError};
use crate::fs::FileSystem;
use crate::keys::{Registry, TableKeyProvider};
use crate::manifest::{self, Manifest};
use crate::memtable::{internal_key, Memtable};
use crate::sst::{self, Entry, Table};
use crate::wal::{self, Log};

#[derive(Debug, Clone)]
pub struct Options {
    /// A memtable larger than this is flushed by the write that crosses it.
    pub memtable_bytes: usize,
    /// The memory bound of the cache of decrypted blocks.
    pub block_cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            memtable_bytes: 8 * 1024 * 1024,
            block_cache_bytes: 64 * 1024 * 1024,
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

struct Files {
    manifest: Manifest,
    manifest_file: (u64, u64),
}

pub struct Engine {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    registry: Registry,
    log: Log,
    mem: RwLock<Arc<Memtable>>,
    imm: RwLock<Option<Arc<Memtable>>>,
    tables: RwLock<Vec<Arc<Table>>>,
    files: Mutex<Files>,
    /// Serializes flushes and compactions.
    maintenance: Mutex<()>,
    held: Arc<Mutex<BTreeMap<u64, usize>>>,
    cache: Arc<BlockCache>,
    options: Options,
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
        let segment = wal::create(fs.as_ref(), dir, 2, wkey)?;
        Ok(Engine {
            dir: dir.to_owned(),
            fs,
            registry,
            log: Log::new(segment, 0),
            mem: RwLock::new(Arc::new(Memtable::default())),
            imm: RwLock::new(None),
            tables: RwLock::new(Vec::new()),
            files: Mutex::new(Files {
                manifest: m,
                manifest_file: (1, mkey.id),
            }),
            maintenance: Mutex::new(()),
            held: Arc::new(Mutex::new(BTreeMap::new())),
            cache: BlockCache::new(options.block_cache_bytes),
            options,
        })
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
        let cache = BlockCache::new(options.block_cache_bytes);
        let mut tables = Vec::new();
        for id in &m.tables {
            let key_for = |k: u64| registry.get(k, &sst::file_name(*id));
            tables.push(Arc::new(Table::open(
                fs.clone(),
                sst::path(dir, *id),
                &key_for,
                cache.clone(),
            )?));
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
        for id in &wal_ids {
            let path = wal::path(dir, *id);
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
        let segment = wal::create(fs.as_ref(), dir, new_wal, registry.new_key()?)?;
        let engine = Engine {
            dir: dir.to_owned(),
            fs,
            registry,
            log: Log::new(segment, last_seq),
            mem: RwLock::new(Arc::new(mem)),
            imm: RwLock::new(None),
            tables: RwLock::new(tables),
            files: Mutex::new(Files {
                manifest: m,
                manifest_file: (manifest_id, manifest_key),
            }),
            maintenance: Mutex::new(()),
            held: Arc::new(Mutex::new(BTreeMap::new())),
            cache,
            options,
        };
        engine.remove_orphans(&names)?;
        Ok(engine)
    }

    /// Deletes files a crash left behind (SSTs and manifests no manifest names, flushed WAL segments) and
    /// forgets data keys no file uses.
    fn remove_orphans(&self, names: &[String]) -> Result<()> {
        let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let live_wal = self.log_file_ids(&files.manifest, names);
        let mut keep_keys = vec![files.manifest_file.1];
        for n in names {
            let Some(id) = file_id_of(n) else { continue };
            let path = self.dir.join(n);
            let orphan = (n.ends_with(".sst") && !files.manifest.tables.contains(&id))
                || (n.ends_with(".manifest") && id != files.manifest_file.0)
                || (n.ends_with(".wal") && !live_wal.contains(&id))
                || n.ends_with(".tmp");
            if orphan {
                self.fs.remove(&path)?;
            }
        }
        for t in self.tables.read().unwrap_or_else(|p| p.into_inner()).iter() {
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
        let _m = self.maintenance.lock().unwrap_or_else(|p| p.into_inner());
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

    /// Applies `batch` atomically and durably; returns its sequence number. Readers never see a later
    /// write without every earlier one.
    pub fn write(&self, batch: WriteBatch) -> Result<u64> {
        if batch.is_empty() {
            return Ok(self.log.durable_seq());
        }
        let seq = self.log.commit(batch, &|s, b| {
            self.mem.read().unwrap_or_else(|p| p.into_inner()).apply(s, b);
        })?;
        let big = self.mem.read().unwrap_or_else(|p| p.into_inner()).approximate_bytes() >= self.options.memtable_bytes;
        if big {
            self.flush()?;
        }
        Ok(seq)
    }

    // ---- reads ---------------------------------------------------------------------------------------

    pub fn snapshot(&self) -> Snapshot {
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

    fn sources(&self) -> (Arc<Memtable>, Option<Arc<Memtable>>, Vec<Arc<Table>>) {
        // Tables first, then memtables: a flush moving data from `imm` to a table is seen in one of them.
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner()).clone();
        let imm = self.imm.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mem = self.mem.read().unwrap_or_else(|p| p.into_inner()).clone();
        (mem, imm, tables)
    }

    pub fn get(&self, structure: u32, key: &[u8], snapshot: Option<&Snapshot>) -> Result<Option<Vec<u8>>> {
        let seq = snapshot.map_or_else(|| self.log.durable_seq(), |s| s.seq);
        let ik = internal_key(structure, key);
        let (mem, imm, tables) = self.sources();
        let mut best: Option<(u64, Option<Vec<u8>>)> = mem.get(&ik, seq);
        let better = |best: &Option<(u64, Option<Vec<u8>>)>, s: u64| best.as_ref().is_none_or(|(b, _)| s > *b);
        if let Some(v) = imm.as_ref().and_then(|m| m.get(&ik, seq)) {
            if better(&best, v.0) {
                best = Some(v);
            }
        }
        for t in &tables {
            if let Some(v) = t.get(&ik, seq)? {
                if better(&best, v.0) {
                    best = Some(v);
                }
            }
        }
        Ok(best.and_then(|(_, v)| v))
    }

    /// Live `(key, value)` pairs of `structure` in `range`, at most `range.limit` of them.
    pub fn range(
        &self,
        structure: u32,
        range: &Range<'_>,
        snapshot: Option<&Snapshot>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
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
        let (mem, imm, tables) = self.sources();
        let mut sources: Vec<Source> = vec![Source::vec(mem.range(&start, &end), range.reverse)];
        if let Some(m) = imm {
            sources.push(Source::vec(m.range(&start, &end), range.reverse));
        }
        for t in &tables {
            sources.push(Source::Table(t.range(&start, &end, range.reverse)));
        }
        let mut heap = BinaryHeap::new();
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some(e) = s.next()? {
                heap.push(Head::new(e, i, range.reverse));
            }
        }
        let mut out = Vec::new();
        let mut current: Option<Vec<u8>> = None;
        let mut decided = false;
        while let Some(Head { entry, src, .. }) = heap.pop() {
            if let Some(e) = sources[src].next()? {
                heap.push(Head::new(e, src, range.reverse));
            }
            let (k, s, v) = entry;
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

    /// Turns the memtable into an SST, then drops the WAL segments it came from.
    pub fn flush(&self) -> Result<()> {
        let _m = self.maintenance.lock().unwrap_or_else(|p| p.into_inner());
        if self.mem.read().unwrap_or_else(|p| p.into_inner()).is_empty() {
            return Ok(());
        }
        let wal_id = self.allocate_file_id();
        let segment = wal::create(self.fs.as_ref(), &self.dir, wal_id, self.registry.new_key()?)?;
        // Freeze: no write is in flight while the memtable and the segment change together.
        let (frozen, frozen_seq) = self.log.switch_with(segment, |durable| {
            let old = std::mem::replace(
                &mut *self.mem.write().unwrap_or_else(|p| p.into_inner()),
                Arc::new(Memtable::default()),
            );
            *self.imm.write().unwrap_or_else(|p| p.into_inner()) = Some(old.clone());
            (old, durable)
        })?;
        let sst_id = self.allocate_file_id();
        let key = self.registry.new_key()?;
        sst::write(self.fs.as_ref(), &self.dir, sst_id, &key, &frozen.entries())?;
        let key_for = |_: u64| Ok(key.clone());
        let table = Arc::new(Table::open(
            self.fs.clone(),
            sst::path(&self.dir, sst_id),
            &key_for,
            self.cache.clone(),
        )?);
        let old_wals: Vec<u64>;
        {
            let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            let mut next = files.manifest.clone();
            next.tables.push(sst_id);
            old_wals = (next.wal_id..wal_id).collect();
            next.wal_id = wal_id;
            next.last_seq = next.last_seq.max(frozen_seq);
            self.install(&mut files, next)?;
        }
        self.tables.write().unwrap_or_else(|p| p.into_inner()).push(table);
        *self.imm.write().unwrap_or_else(|p| p.into_inner()) = None;
        self.drop_files(old_wals.iter().map(|id| wal::path(&self.dir, *id)).collect())
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

    /// Merges every SST into one, keeping only what the newest state and held snapshots can see, and
    /// dropping deletions nothing older could resurrect. The new file has a new data key.
    pub fn compact(&self) -> Result<()> {
        let _m = self.maintenance.lock().unwrap_or_else(|p| p.into_inner());
        let inputs = self.tables.read().unwrap_or_else(|p| p.into_inner()).clone();
        // Even one table is worth rewriting: it may hold deletions and shadowed versions.
        if inputs.is_empty() {
            return Ok(());
        }
        let oldest_snapshot = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .next()
            .copied()
            .unwrap_or(u64::MAX)
            .min(self.log.durable_seq());
        let mut all: Vec<Entry> = Vec::new();
        for t in &inputs {
            all.extend(t.entries()?);
        }
        all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut kept: Vec<Entry> = Vec::with_capacity(all.len());
        let mut i = 0;
        while i < all.len() {
            let mut j = i;
            while j < all.len() && all[j].0 == all[i].0 {
                j += 1;
            }
            // Versions newer than the oldest snapshot stay; of the rest, only the newest (the one that
            // snapshot sees), and not even it if it is a deletion.
            let mut seen_old = false;
            for e in &all[i..j] {
                if e.1 > oldest_snapshot {
                    kept.push(e.clone());
                } else if !seen_old {
                    seen_old = true;
                    if e.2.is_some() {
                        kept.push(e.clone());
                    }
                }
            }
            i = j;
        }
        let sst_id = self.allocate_file_id();
        let key = self.registry.new_key()?;
        let new_table = if kept.is_empty() {
            None
        } else {
            sst::write(self.fs.as_ref(), &self.dir, sst_id, &key, &kept)?;
            let key_for = |_: u64| Ok(key.clone());
            Some(Arc::new(Table::open(
                self.fs.clone(),
                sst::path(&self.dir, sst_id),
                &key_for,
                self.cache.clone(),
            )?))
        };
        let input_ids: Vec<u64> = inputs.iter().map(|t| t.file_id).collect();
        {
            let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            let mut next = files.manifest.clone();
            next.tables.retain(|t| !input_ids.contains(t));
            if new_table.is_some() {
                next.tables.insert(0, sst_id);
            }
            self.install(&mut files, next)?;
        }
        {
            let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
            tables.retain(|t| !input_ids.contains(&t.file_id));
            if let Some(t) = new_table {
                tables.insert(0, t);
            }
        }
        if kept.is_empty() {
            self.registry.remove(&[key.id])?;
        }
        for id in &input_ids {
            self.cache.forget_file(*id);
        }
        self.drop_files(input_ids.iter().map(|id| sst::path(&self.dir, *id)).collect())
    }

    /// `(bytes held, hits, misses)` of the block cache.
    pub fn cache_stats(&self) -> (usize, u64, u64) {
        self.cache.stats()
    }

    /// A key switch: the registry re-wraps every data key under the new table key. No data is rewritten.
    pub fn rewrap(&self, blob: Vec<u8>, table_key: &SecretBytes) -> Result<()> {
        self.registry.rewrap(blob, table_key)
    }

    pub fn table_key_blob(&self) -> Vec<u8> {
        self.registry.blob()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A source of versions for a range, in the range's order.
enum Source {
    Vec(std::vec::IntoIter<Entry>),
    Table(sst::TableRange),
}

impl Source {
    fn vec(mut v: Vec<Entry>, reverse: bool) -> Source {
        if reverse {
            v.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        }
        Source::Vec(v.into_iter())
    }

    fn next(&mut self) -> Result<Option<Entry>> {
        match self {
            Source::Vec(it) => Ok(it.next()),
            Source::Table(r) => r.next_entry(),
        }
    }
}

/// A heap item ordered so the heap pops the next entry: by key in the range's direction, then newest
/// version first.
struct Head {
    entry: Entry,
    src: usize,
    reverse: bool,
}

impl Head {
    fn new(entry: Entry, src: usize, reverse: bool) -> Head {
        Head { entry, src, reverse }
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap pops the greatest: forward wants the smallest key first, reverse the largest.
        let by_key = self.entry.0.cmp(&other.entry.0);
        let by_key = if self.reverse { by_key } else { by_key.reverse() };
        by_key
            .then(self.entry.1.cmp(&other.entry.1))
            .then(other.src.cmp(&self.src))
    }
}
