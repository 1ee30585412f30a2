//! A cache of decrypted, decompressed SST blocks with a memory bound: hot blocks stay in our memory rather than
//! in the page cache as ciphertext (design.md section 7: idle page-cache pages go after about 30 s).
//!
//! Beside it, optionally, a row cache (RocksDB's `row_cache`): the newest version of a key in one SST, as a
//! point read found it. A table file never changes, so a cached row needs no invalidation until its file
//! is deleted; a hot key read again skips the file's index search, block lookup and block walk, which on a
//! large table are cache-miss-bound. Rows cost memory per key rather than per block, so under skewed reads
//! (a few hot keys spread over many blocks) the same memory holds far more of what is read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::bloom::KeyHash;

/// A decrypted, decompressed data block, kept as bytes: a point read walks it in place
/// (`sst::BlockEntries`) and copies only the value it wants.
pub struct BlockBytes {
    buf: Vec<u8>,
    start: usize,
}

impl BlockBytes {
    /// `buf[start..]` is the block's payload (`start` skips a raw block's codec byte, so the buffer the
    /// block was read and decrypted into is kept as it is).
    pub fn new(buf: Vec<u8>, start: usize) -> BlockBytes {
        BlockBytes {
            start: start.min(buf.len()),
            buf,
        }
    }

    pub fn payload(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

pub type Block = Arc<BlockBytes>;

/// Sharded by block, so concurrent readers rarely meet on one lock; each shard holds an equal part of the
/// budget. One cache may serve many engines (a server's tables share one memory bound, however many
/// tables it has): each engine reads through its own [`CacheView`], and blocks are keyed by the view's
/// owner id as well as by file and offset, since file ids are only unique within an engine.
pub struct BlockCache {
    blocks: Shards<BlockId, Block>,
    /// Empty (a budget of zero) unless asked for: then no read looks here.
    rows: Shards<RowId, Row>,
    next_owner: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BlockCache({} bytes, rows {} bytes)",
            self.blocks.shard_budget * SHARDS,
            self.rows.shard_budget * SHARDS
        )
    }
}

const SHARDS: usize = 16;

/// `(owner, file id, offset)`.
type BlockId = (u64, u64, u64);

/// `(owner, file id, `KeyHash` of the key)`; the entry holds the key itself, so a hash collision is a miss.
type RowId = (u64, u64, u64);

/// A key's newest version in one SST: `(key, sequence number, value or tombstone)`.
struct Row {
    key: Box<[u8]>,
    seq: u64,
    value: Option<Box<[u8]>>,
}

/// One lock's worth of a cache: an LRU of entries with their sizes, within `budget` bytes.
struct Shard<K, V> {
    lru: LruCache<K, (V, usize)>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

impl<K: std::hash::Hash + Eq + Copy, V> Shard<K, V> {
    fn new() -> Self {
        Shard {
            lru: LruCache::unbounded(),
            bytes: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// The entry under `id` if `matches` accepts it, counted as a hit or a miss.
    fn get(&mut self, id: &K, matches: impl FnOnce(&V) -> bool) -> Option<&V> {
        let Shard { lru, hits, misses, .. } = self;
        match lru.get(id) {
            Some((v, _)) if matches(v) => {
                *hits += 1;
                Some(v)
            }
            _ => {
                *misses += 1;
                None
            }
        }
    }

    fn put(&mut self, id: K, value: V, size: usize, budget: usize) {
        if size > budget {
            return;
        }
        if let Some((_, old_size)) = self.lru.put(id, (value, size)) {
            self.bytes -= old_size;
        }
        self.bytes += size;
        while self.bytes > budget {
            match self.lru.pop_lru() {
                Some((_, (_, s))) => self.bytes -= s,
                None => break,
            }
        }
    }

    /// Drops the entries `gone` picks.
    fn forget(&mut self, gone: impl Fn(&K) -> bool) {
        let ids: Vec<K> = self.lru.iter().map(|(k, _)| *k).filter(|k| gone(k)).collect();
        for k in ids {
            if let Some((_, s)) = self.lru.pop(&k) {
                self.bytes -= s;
            }
        }
    }
}

/// Shards of one kind of entry, each with an equal part of the budget.
struct Shards<K, V> {
    shards: Vec<Mutex<Shard<K, V>>>,
    shard_budget: usize,
}

impl<K: std::hash::Hash + Eq + Copy, V> Shards<K, V> {
    fn new(budget: usize) -> Self {
        Shards {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            shard_budget: budget / SHARDS,
        }
    }

    fn lock(&self, hash: u64) -> std::sync::MutexGuard<'_, Shard<K, V>> {
        self.shards[(hash >> 60) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self, gone: impl Fn(&K) -> bool) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(|p| p.into_inner()).forget(&gone);
        }
    }

    /// `(bytes held, hits, misses)`.
    fn stats(&self) -> (usize, u64, u64) {
        self.shards.iter().fold((0, 0, 0), |(b, h, m), shard| {
            let inner = shard.lock().unwrap_or_else(|p| p.into_inner());
            (b + inner.bytes, h + inner.hits, m + inner.misses)
        })
    }
}

/// Spreads `(owner, file id, x)` over the shards.
fn mix(owner: u64, file_id: u64, x: u64) -> u64 {
    (file_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ x ^ owner.rotate_left(32)).wrapping_mul(0xff51_afd7_ed55_8ccd)
}

fn block_bytes(b: &BlockBytes) -> usize {
    b.buf.capacity() + 64
}

impl BlockCache {
    pub fn new(budget: usize) -> Arc<BlockCache> {
        BlockCache::with_rows(budget, 0)
    }

    /// A cache of `budget` bytes of blocks and `row_budget` bytes of rows (none at zero).
    pub fn with_rows(budget: usize, row_budget: usize) -> Arc<BlockCache> {
        Arc::new(BlockCache {
            blocks: Shards::new(budget),
            rows: Shards::new(row_budget),
            next_owner: AtomicU64::new(1),
        })
    }

    /// A view for one more engine.
    pub fn view(self: &Arc<Self>) -> CacheView {
        CacheView {
            cache: self.clone(),
            owner: self.next_owner.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn get(&self, id: BlockId) -> Option<Block> {
        let (owner, file_id, offset) = id;
        self.blocks
            .lock(mix(owner, file_id, offset >> 12))
            .get(&id, |_| true)
            .cloned()
    }

    fn get_or_load(&self, id: BlockId, load: impl FnOnce() -> crate::Result<BlockBytes>) -> crate::Result<Block> {
        if let Some(b) = self.get(id) {
            return Ok(b);
        }
        let block: Block = Arc::new(load()?);
        self.put(id, block.clone());
        Ok(block)
    }

    fn put(&self, id: BlockId, block: Block) {
        let size = block_bytes(&block);
        let (owner, file_id, offset) = id;
        self.blocks
            .lock(mix(owner, file_id, offset >> 12))
            .put(id, block, size, self.blocks.shard_budget);
    }

    fn forget_block(&self, id: BlockId) {
        let (owner, file_id, offset) = id;
        let mut shard = self.blocks.lock(mix(owner, file_id, offset >> 12));
        if let Some((_, size)) = shard.lru.pop(&id) {
            shard.bytes -= size;
        }
    }

    /// Whether the block is cached, without counting a hit or a miss or making it any younger.
    fn holds(&self, id: BlockId) -> bool {
        let (owner, file_id, offset) = id;
        self.blocks.lock(mix(owner, file_id, offset >> 12)).lru.contains(&id)
    }

    fn caches_rows(&self) -> bool {
        self.rows.shard_budget > 0
    }

    fn row(&self, owner: u64, file_id: u64, key: &[u8], KeyHash(h): KeyHash) -> Option<(u64, Option<Vec<u8>>)> {
        let mut shard = self.rows.lock(mix(owner, file_id, h));
        shard
            .get(&(owner, file_id, h), |r| &*r.key == key)
            .map(|r| (r.seq, r.value.as_deref().map(<[u8]>::to_vec)))
    }

    fn put_row(&self, owner: u64, file_id: u64, key: &[u8], KeyHash(h): KeyHash, seq: u64, value: Option<&[u8]>) {
        let row = Row {
            key: key.into(),
            seq,
            value: value.map(Into::into),
        };
        let size = key.len() + value.map_or(0, <[u8]>::len) + 96;
        self.rows
            .lock(mix(owner, file_id, h))
            .put((owner, file_id, h), row, size, self.rows.shard_budget);
    }

    /// Drops the blocks and rows of the `(owner, file id)`s that `gone` picks.
    fn forget(&self, gone: impl Fn(u64, u64) -> bool) {
        self.blocks.forget(|(o, f, _)| gone(*o, *f));
        self.rows.forget(|(o, f, _)| gone(*o, *f));
    }

    /// `(bytes held, hits, misses)` of the blocks, over every engine the cache serves.
    pub fn stats(&self) -> (usize, u64, u64) {
        self.blocks.stats()
    }

    /// `(bytes held, hits, misses)` of the rows, over every engine the cache serves.
    pub fn row_stats(&self) -> (usize, u64, u64) {
        self.rows.stats()
    }
}

/// One engine's use of a (possibly shared) [`BlockCache`].
#[derive(Clone)]
pub struct CacheView {
    cache: Arc<BlockCache>,
    owner: u64,
}

impl CacheView {
    /// A cached block of file `file_id` at `offset`, without loading it on a miss.
    pub fn get(&self, file_id: u64, offset: u64) -> Option<Block> {
        self.cache.get((self.owner, file_id, offset))
    }

    /// The block of file `file_id` at `offset`, loading it with `load` on a miss.
    pub fn get_or_load(
        &self,
        file_id: u64,
        offset: u64,
        load: impl FnOnce() -> crate::Result<BlockBytes>,
    ) -> crate::Result<Block> {
        self.cache.get_or_load((self.owner, file_id, offset), load)
    }

    /// Caches a block that was not read: a compaction's output, as it is written.
    pub fn put(&self, file_id: u64, offset: u64, block: BlockBytes) {
        self.cache.put((self.owner, file_id, offset), Arc::new(block))
    }

    /// Drops one block of file `file_id`, if cached.
    pub fn forget_block(&self, file_id: u64, offset: u64) {
        self.cache.forget_block((self.owner, file_id, offset))
    }

    /// Whether the block of file `file_id` at `offset` is cached (neither a hit nor a miss).
    pub fn holds(&self, file_id: u64, offset: u64) -> bool {
        self.cache.holds((self.owner, file_id, offset))
    }

    /// Whether point reads should look for rows here.
    pub fn caches_rows(&self) -> bool {
        self.cache.caches_rows()
    }

    /// The newest version of `key` in file `file_id`, if a read cached it.
    pub fn row(&self, file_id: u64, key: &[u8], hash: KeyHash) -> Option<(u64, Option<Vec<u8>>)> {
        self.cache.row(self.owner, file_id, key, hash)
    }

    /// Caches the newest version of `key` in file `file_id` (a tombstone is `None`).
    pub fn put_row(&self, file_id: u64, key: &[u8], hash: KeyHash, seq: u64, value: Option<&[u8]>) {
        self.cache.put_row(self.owner, file_id, key, hash, seq, value)
    }

    /// Drops deleted files' blocks and rows. No read could reach them again (a file id is never reused
    /// within an engine), but a deleted file may have held items since deleted, whose plaintext should
    /// not wait in memory for the LRU to push it out.
    pub fn forget_files(&self, file_ids: &[u64]) {
        let owner = self.owner;
        self.cache.forget(|o, f| o == owner && file_ids.contains(&f));
    }

    /// Drops every block and row of this engine: it is closing, and its plaintext should not outlive it.
    pub fn forget_all(&self) {
        let owner = self.owner;
        self.cache.forget(|o, _| o == owner);
    }

    /// `(bytes held, hits, misses)` of the whole cache (shared, it counts every engine's blocks).
    pub fn stats(&self) -> (usize, u64, u64) {
        self.cache.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_repeats_and_stays_within_its_budget() {
        let cache = BlockCache::new(16 * 10_000).view();
        let block = |i: u64| BlockBytes::new(vec![i as u8; 266], 1);
        // A working set that fits (20 blocks of ~330 bytes) is loaded once.
        let mut loads = 0;
        for _ in 0..3 {
            for i in 0..20u64 {
                cache
                    .get_or_load(1, i, || {
                        loads += 1;
                        Ok(block(i))
                    })
                    .unwrap();
            }
        }
        assert_eq!(loads, 20);
        // One that does not fit never pushes the cache past its budget.
        for i in 0..500u64 {
            cache.get_or_load(3, i, || Ok(block(i))).unwrap();
            assert!(cache.stats().0 <= 16 * 10_000);
        }
        cache.get_or_load(2, 0, || Ok(BlockBytes::new(Vec::new(), 0))).unwrap();
        let hits = cache.stats().1;
        cache.get_or_load(2, 0, || Ok(BlockBytes::new(Vec::new(), 0))).unwrap();
        assert_eq!(cache.stats().1, hits + 1);
        cache.forget_files(&[2]);
        cache.get_or_load(2, 0, || Ok(BlockBytes::new(Vec::new(), 0))).unwrap();
        assert_eq!(cache.stats().1, hits + 1);
    }

    #[test]
    fn engines_sharing_a_cache_keep_their_blocks_apart() {
        let shared = BlockCache::new(16 * 10_000);
        let (a, b) = (shared.view(), shared.view());
        // The same file id and offset in two engines are two blocks.
        a.get_or_load(1, 0, || Ok(BlockBytes::new(vec![1; 10], 0))).unwrap();
        let got = b.get_or_load(1, 0, || Ok(BlockBytes::new(vec![2; 10], 0))).unwrap();
        assert_eq!(got.payload(), &[2; 10]);
        assert_eq!(a.get(1, 0).unwrap().payload(), &[1; 10]);
        // Forgetting is per engine.
        a.forget_files(&[1]);
        assert!(a.get(1, 0).is_none());
        assert!(b.get(1, 0).is_some());
        b.get_or_load(7, 0, || Ok(BlockBytes::new(vec![3; 10], 0))).unwrap();
        b.forget_all();
        assert!(b.get(1, 0).is_none() && b.get(7, 0).is_none());
        assert_eq!(shared.stats().0, 0);
    }

    #[test]
    fn rows_are_found_by_their_key_and_forgotten_with_their_engine() {
        let cache = BlockCache::with_rows(1 << 20, 16 * 1000);
        let h = KeyHash::of;
        let (a, b) = (cache.view(), cache.view());
        assert!(a.caches_rows());
        a.put_row(7, b"key", h(b"key"), 3, Some(b"value"));
        a.put_row(7, b"gone", h(b"gone"), 4, None);
        assert_eq!(a.row(7, b"key", h(b"key")), Some((3, Some(b"value".to_vec()))));
        assert_eq!(a.row(7, b"gone", h(b"gone")), Some((4, None)));
        // Another file, another engine, another key: misses.
        assert_eq!(a.row(8, b"key", h(b"key")), None);
        assert_eq!(b.row(7, b"key", h(b"key")), None);
        assert_eq!(a.row(7, b"kez", h(b"kez")), None);
        // A budget of 1,000 bytes a shard holds a few rows each, however many are put.
        for i in 0..10_000u32 {
            b.put_row(1, &i.to_be_bytes(), h(&i.to_be_bytes()), 1, Some(&[0u8; 100]));
        }
        assert!(cache.row_stats().0 <= 16 * 1000);
        a.forget_all();
        assert_eq!(a.row(7, b"key", h(b"key")), None);
        assert!(!BlockCache::new(1 << 20).view().caches_rows());
    }
}
