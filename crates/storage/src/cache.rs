//! A cache of decrypted, decompressed SST blocks with a memory bound: hot blocks stay in our memory rather than
//! in the page cache as ciphertext (design.md section 7: idle page-cache pages go after about 30 s).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;

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
    shards: Vec<Mutex<Inner>>,
    shard_budget: usize,
    next_owner: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockCache({} bytes)", self.shard_budget * SHARDS)
    }
}

const SHARDS: usize = 16;

/// `(owner, file id, offset)`.
type BlockId = (u64, u64, u64);

struct Inner {
    lru: LruCache<BlockId, (Block, usize)>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

impl Inner {
    /// Drops the blocks `gone` picks.
    fn forget(&mut self, gone: impl Fn(&BlockId) -> bool) {
        let ids: Vec<BlockId> = self.lru.iter().map(|(k, _)| *k).filter(|k| gone(k)).collect();
        for k in ids {
            if let Some((_, s)) = self.lru.pop(&k) {
                self.bytes -= s;
            }
        }
    }
}

fn block_bytes(b: &BlockBytes) -> usize {
    b.buf.capacity() + 64
}

impl BlockCache {
    pub fn new(budget: usize) -> Arc<BlockCache> {
        Arc::new(BlockCache {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Inner {
                        lru: LruCache::unbounded(),
                        bytes: 0,
                        hits: 0,
                        misses: 0,
                    })
                })
                .collect(),
            shard_budget: budget / SHARDS,
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

    fn shard(&self, id: &BlockId) -> std::sync::MutexGuard<'_, Inner> {
        let (owner, file_id, offset) = *id;
        let h = (file_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (offset >> 12) ^ owner.rotate_left(32))
            .wrapping_mul(0xff51_afd7_ed55_8ccd);
        self.shards[(h >> 60) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: BlockId) -> Option<Block> {
        let mut inner = self.shard(&id);
        let hit = inner.lru.get(&id).map(|(b, _)| b.clone());
        match hit {
            Some(_) => inner.hits += 1,
            None => inner.misses += 1,
        }
        hit
    }

    fn get_or_load(&self, id: BlockId, load: impl FnOnce() -> crate::Result<BlockBytes>) -> crate::Result<Block> {
        if let Some(b) = self.get(id) {
            return Ok(b);
        }
        let block: Block = Arc::new(load()?);
        let size = block_bytes(&block);
        if size <= self.shard_budget {
            let mut inner = self.shard(&id);
            if let Some((_, old_size)) = inner.lru.put(id, (block.clone(), size)) {
                inner.bytes -= old_size;
            }
            inner.bytes += size;
            while inner.bytes > self.shard_budget {
                match inner.lru.pop_lru() {
                    Some((_, (_, s))) => inner.bytes -= s,
                    None => break,
                }
            }
        }
        Ok(block)
    }

    fn forget(&self, gone: impl Fn(&BlockId) -> bool) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(|p| p.into_inner()).forget(&gone);
        }
    }

    /// `(bytes held, hits, misses)`, over every engine the cache serves.
    pub fn stats(&self) -> (usize, u64, u64) {
        self.shards.iter().fold((0, 0, 0), |(b, h, m), shard| {
            let inner = shard.lock().unwrap_or_else(|p| p.into_inner());
            (b + inner.bytes, h + inner.hits, m + inner.misses)
        })
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

    /// Drops deleted files' blocks.
    pub fn forget_files(&self, file_ids: &[u64]) {
        let owner = self.owner;
        self.cache.forget(|(o, f, _)| *o == owner && file_ids.contains(f));
    }

    /// Drops every block of this engine: it is closing, and its plaintext should not outlive it.
    pub fn forget_all(&self) {
        let owner = self.owner;
        self.cache.forget(|(o, _, _)| *o == owner);
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
}
