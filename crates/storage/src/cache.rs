//! A cache of decrypted, decompressed SST blocks with a memory bound: hot blocks stay in our memory rather than
//! in the page cache as ciphertext (design.md section 7: idle page-cache pages go after about 30 s).

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
/// budget.
pub struct BlockCache {
    shards: Vec<Mutex<Inner>>,
    shard_budget: usize,
}

const SHARDS: usize = 16;

struct Inner {
    lru: LruCache<(u64, u64), (Block, usize)>,
    bytes: usize,
    hits: u64,
    misses: u64,
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
        })
    }

    fn shard(&self, file_id: u64, offset: u64) -> std::sync::MutexGuard<'_, Inner> {
        let h = (file_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (offset >> 12)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        self.shards[(h >> 60) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The block of file `file_id` at `offset`, loading it with `load` on a miss.
    /// A cached block, without loading it on a miss.
    pub fn get(&self, file_id: u64, offset: u64) -> Option<Block> {
        let mut inner = self.shard(file_id, offset);
        let hit = inner.lru.get(&(file_id, offset)).map(|(b, _)| b.clone());
        match hit {
            Some(_) => inner.hits += 1,
            None => inner.misses += 1,
        }
        hit
    }

    pub fn get_or_load(
        &self,
        file_id: u64,
        offset: u64,
        load: impl FnOnce() -> crate::Result<BlockBytes>,
    ) -> crate::Result<Block> {
        {
            let mut inner = self.shard(file_id, offset);
            if let Some((b, _)) = inner.lru.get(&(file_id, offset)) {
                let b = b.clone();
                inner.hits += 1;
                return Ok(b);
            }
            inner.misses += 1;
        }
        let block: Block = Arc::new(load()?);
        let size = block_bytes(&block);
        if size <= self.shard_budget {
            let mut inner = self.shard(file_id, offset);
            if let Some((_, old_size)) = inner.lru.put((file_id, offset), (block.clone(), size)) {
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

    /// Drops a deleted file's blocks.
    pub fn forget_file(&self, file_id: u64) {
        for shard in &self.shards {
            let mut inner = shard.lock().unwrap_or_else(|p| p.into_inner());
            let gone: Vec<(u64, u64)> = inner
                .lru
                .iter()
                .filter(|((f, _), _)| *f == file_id)
                .map(|(k, _)| *k)
                .collect();
            for k in gone {
                if let Some((_, s)) = inner.lru.pop(&k) {
                    inner.bytes -= s;
                }
            }
        }
    }

    /// `(bytes held, hits, misses)`.
    pub fn stats(&self) -> (usize, u64, u64) {
        self.shards.iter().fold((0, 0, 0), |(b, h, m), shard| {
            let inner = shard.lock().unwrap_or_else(|p| p.into_inner());
            (b + inner.bytes, h + inner.hits, m + inner.misses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_repeats_and_stays_within_its_budget() {
        let cache = BlockCache::new(16 * 10_000);
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
        cache.forget_file(2);
        cache.get_or_load(2, 0, || Ok(BlockBytes::new(Vec::new(), 0))).unwrap();
        assert_eq!(cache.stats().1, hits + 1);
    }
}
