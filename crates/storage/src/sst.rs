//! Sorted table files: immutable, each sealed under its own data key.
//!
//! ```text
//! header (32, plaintext) | data blocks | index block | footer (24, plaintext)
//! data block  = len u32 | sealed( codec u8 | (lz4 or raw)( count u32 | count x entry ) )
//! entry       = klen u32 | internal key | seq u64 | op u8 | [vlen u32 | value]
//! index block = len u32 | sealed( count u32 | count x (klen u32 | last key | last seq u64 | offset u64 | len u32)
//!                                 | bloom len u32 | bloom filter over the internal keys
//!                                 | first key len u32 | first key )
//! footer      = index offset u64 | index len u32 | reserved u32 | "SRSSTEND"
//! ```
//! Entries are ordered by key ascending, then sequence descending. Keys, values and the index are sealed;
//! the footer holds only offsets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::Reader;
use crate::bloom::{Bloom, KeyHash};
use crate::cache::{Block, BlockBytes, CacheView};
use crate::codec;
use crate::error::{Result, StorageError};
use crate::fs::{FileSystem, ReadAt};
use crate::seal::{self, DataKey, Kind, HEADER_LEN};
use crate::warm::HotSpans;

pub const MAGIC: &[u8; 8] = b"SRSST002";
const FOOTER_MAGIC: &[u8; 8] = b"SRSSTEND";
const FOOTER_LEN: usize = 24;
/// 4 KiB, as LevelDB and fjall: a point read decrypts, decompresses and decodes one block.
const BLOCK_TARGET: usize = 4 * 1024;

pub type Entry = (Vec<u8>, u64, Option<Vec<u8>>);

pub fn file_name(id: u64) -> String {
    format!("{id:010}.sst")
}

pub fn path(dir: &Path, id: u64) -> PathBuf {
    dir.join(file_name(id))
}

fn encode_entry(out: &mut Vec<u8>, (k, s, v): &Entry) {
    out.extend_from_slice(&(k.len() as u32).to_be_bytes());
    out.extend_from_slice(k);
    out.extend_from_slice(&s.to_be_bytes());
    match v {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v);
        }
        None => out.push(0),
    }
}

pub fn decode_block(raw: &[u8], file: &str) -> Result<Vec<Entry>> {
    let mut entries = BlockEntries::new(raw, file)?;
    // The smallest entry is 13 bytes: never reserve more than the input could hold.
    let mut out = Vec::with_capacity((entries.left as usize).min(raw.len() / 13));
    for e in entries.by_ref() {
        let (k, s, v) = e?;
        out.push((k.to_vec(), s, v.map(<[u8]>::to_vec)));
    }
    if !entries.r.done() {
        return Err(StorageError::corrupt(file, "data block", "trailing bytes"));
    }
    Ok(out)
}

/// An entry borrowed from its block: `(key, seq, value or tombstone)`.
type EntryRef<'a> = (&'a [u8], u64, Option<&'a [u8]>);

/// A data block's entries read where they lie: a point read looks through a block without copying the
/// entries it passes.
struct BlockEntries<'a> {
    r: Reader<'a>,
    left: u32,
    file: &'a str,
}

impl<'a> BlockEntries<'a> {
    fn new(raw: &'a [u8], file: &'a str) -> Result<BlockEntries<'a>> {
        let mut r = Reader::new(raw, file);
        let left = r.u32()?;
        Ok(BlockEntries { r, left, file })
    }

    fn entry(&mut self) -> Result<EntryRef<'a>> {
        let klen = self.r.u32()? as usize;
        let k = self.r.take(klen)?;
        let s = self.r.u64()?;
        let v = match self.r.u8()? {
            1 => {
                let vlen = self.r.u32()? as usize;
                Some(self.r.take(vlen)?)
            }
            0 => None,
            other => {
                return Err(StorageError::corrupt(
                    self.file,
                    "data block",
                    format!("unknown op {other}"),
                ))
            }
        };
        Ok((k, s, v))
    }
}

impl<'a> Iterator for BlockEntries<'a> {
    type Item = Result<EntryRef<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let e = self.entry();
        if e.is_err() {
            self.left = 0;
        }
        Some(e)
    }
}

/// Prefixes per run of `Table::fences`: 32 of them are four cache lines.
const FENCE: usize = 32;

/// Of `items` in key order, whose keys' prefixes are `prefixes` (those before `lo` below `p`, those from
/// `lo` on not): the first item not `below` the sought key, whose prefix is `p`. Only the items whose prefix
/// equals `p` need `below` (a comparison of the keys themselves).
pub(crate) fn past_prefix_ties<T>(
    prefixes: &[u64],
    items: &[T],
    lo: usize,
    p: u64,
    below: impl FnMut(&T) -> bool,
) -> usize {
    let ties = leading_run_of(&prefixes[lo..], p);
    lo + items[lo..lo + ties].partition_point(below)
}

/// How many of `xs` (sorted, none below `p`) equal `p`, found by galloping from the front: ties are
/// usually none or a few, and a binary search over the whole rest would touch cold lines to learn that.
fn leading_run_of(xs: &[u64], p: u64) -> usize {
    if xs.first() != Some(&p) {
        return 0;
    }
    let mut bound = 1;
    while bound < xs.len() && xs[bound] == p {
        bound *= 2;
    }
    bound / 2 + xs[bound / 2..bound.min(xs.len())].partition_point(|&x| x == p)
}

/// A key's first eight bytes as a big-endian number (zero-padded): `key_prefix(a) < key_prefix(b)` implies
/// `a < b`, so most comparisons in a seek are of two integers.
pub fn key_prefix(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

#[derive(Debug, Clone)]
struct IndexEntry {
    last_key: Vec<u8>,
    last_seq: u64,
    offset: u64,
    len: u32,
}

/// Writes `entries` (already sorted) as a new SST.
///
/// With `warm`, each block whose keys overlap one of the hot spans goes into the cache as it is written
/// (see `warm`); the caller forgets the file's blocks if the write fails.
pub fn write(
    fs: &dyn FileSystem,
    dir: &Path,
    file_id: u64,
    key: &DataKey,
    entries: &[Entry],
    mut warm: Option<(&CacheView, &mut HotSpans)>,
) -> Result<()> {
    /// Written out in pieces of about this size: a table is never held whole in memory.
    const PIECE: usize = 1 << 20;
    let path = path(dir, file_id);
    let mut f = fs.create(&path)?;
    let mut out = seal::header(MAGIC, file_id, key.id).to_vec();
    let mut written = 0u64;
    let mut index: Vec<IndexEntry> = Vec::new();
    // A block is built where it is sealed: room for the codec byte and the entry count, then the entries.
    const ROOM: usize = 5;
    let new_block = || {
        let mut b = Vec::with_capacity(BLOCK_TARGET + 1024);
        b.resize(ROOM, 0);
        b
    };
    let mut block = new_block();
    let mut count = 0u32;
    let mut codec = codec::Adaptive::default();
    let mut block_first: &[u8] = &[];
    for (i, e) in entries.iter().enumerate() {
        if count == 0 {
            block_first = &e.0;
        }
        encode_entry(&mut block, e);
        count += 1;
        if block.len() - ROOM >= BLOCK_TARGET || i + 1 == entries.len() {
            block[1..ROOM].copy_from_slice(&count.to_be_bytes());
            let offset = written + out.len() as u64;
            if let Some((cache, hot)) = warm.as_mut() {
                if hot.overlaps(block_first, &e.0) {
                    // What a read would cache: the plaintext past the codec byte.
                    cache.put(file_id, offset, BlockBytes::new(block.clone(), 1));
                }
            }
            let framed = codec.frame(std::mem::replace(&mut block, new_block()));
            let sealed = key.seal_owned(file_id, offset, Kind::SstData, framed);
            out.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
            out.extend_from_slice(&sealed);
            index.push(IndexEntry {
                last_key: e.0.clone(),
                last_seq: e.1,
                offset,
                len: sealed.len() as u32,
            });
            count = 0;
            if out.len() >= PIECE {
                f.append(&out)?;
                written += out.len() as u64;
                out.clear();
            }
        }
    }
    let mut plain = (index.len() as u32).to_be_bytes().to_vec();
    for ie in &index {
        plain.extend_from_slice(&(ie.last_key.len() as u32).to_be_bytes());
        plain.extend_from_slice(&ie.last_key);
        plain.extend_from_slice(&ie.last_seq.to_be_bytes());
        plain.extend_from_slice(&ie.offset.to_be_bytes());
        plain.extend_from_slice(&ie.len.to_be_bytes());
    }
    let mut distinct: Vec<&[u8]> = entries.iter().map(|e| e.0.as_slice()).collect();
    distinct.dedup();
    let bloom = Bloom::build(distinct.iter().copied(), distinct.len());
    plain.extend_from_slice(&(bloom.as_bytes().len() as u32).to_be_bytes());
    plain.extend_from_slice(bloom.as_bytes());
    let first_key = entries.first().map_or(&[][..], |e| e.0.as_slice());
    plain.extend_from_slice(&(first_key.len() as u32).to_be_bytes());
    plain.extend_from_slice(first_key);
    let index_offset = written + out.len() as u64;
    let sealed = key.seal(file_id, index_offset, Kind::SstIndex, &plain);
    out.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
    out.extend_from_slice(&sealed);
    out.extend_from_slice(&index_offset.to_be_bytes());
    out.extend_from_slice(&((sealed.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(FOOTER_MAGIC);
    f.append(&out)?;
    f.sync()
}

/// An open SST: its index decrypted in memory, data blocks read and decrypted on demand.
pub struct Table {
    file: Box<dyn ReadAt>,
    name: String,
    pub file_id: u64,
    pub key_id: u64,
    key: Arc<DataKey>,
    index: Vec<IndexEntry>,
    /// `key_prefix` of each index entry's last key, side by side: a seek compares these and reaches the
    /// entries' own keys (a pointer away each, a cache miss each in a large index) only on a tie.
    prefixes: Vec<u64>,
    /// The last prefix of each full run of `FENCE` prefixes: a seek finds its run here (a few hot cache
    /// lines per file) and searches only that run of `prefixes`, where a search of the whole array touched
    /// a cold line at every step past the first few.
    fences: Vec<u64>,
    bloom: Bloom,
    first_key: Vec<u8>,
    /// `key_prefix` of the last key, for choosing a table within a level without following pointers.
    pub last_prefix: u64,
    /// The file's size on disk, for level sizing.
    pub size: u64,
    cache: CacheView,
}

impl Table {
    pub fn open(
        fs: Arc<dyn FileSystem>,
        path: PathBuf,
        key_for: &dyn Fn(u64) -> Result<Arc<DataKey>>,
        cache: CacheView,
    ) -> Result<Table> {
        let name = path.display().to_string();
        let size = fs.size(&path)?;
        if size < (HEADER_LEN + FOOTER_LEN) as u64 {
            return Err(StorageError::corrupt(&name, "file", "too short"));
        }
        let header = fs.read_at(&path, 0, HEADER_LEN)?;
        let (file_id, key_id) = seal::parse_header(&header, MAGIC, &name)?;
        let key = key_for(key_id)?;
        let footer = fs.read_at(&path, size - FOOTER_LEN as u64, FOOTER_LEN)?;
        if &footer[16..24] != FOOTER_MAGIC {
            return Err(StorageError::corrupt(&name, "footer", "bad magic"));
        }
        let mut r = Reader::new(&footer, &name);
        let index_offset = r.u64()?;
        let index_len = r.u32()? as usize;
        if index_offset < HEADER_LEN as u64
            || index_offset + index_len as u64 + FOOTER_LEN as u64 != size
            || index_len < 4
        {
            return Err(StorageError::corrupt(&name, "footer", "index out of bounds"));
        }
        let raw = fs.read_at(&path, index_offset, index_len)?;
        let plain = key.open(file_id, index_offset, Kind::SstIndex, &raw[4..], &name)?;
        let mut r = Reader::new(&plain, &name);
        let n = r.u32()?;
        let mut index = Vec::with_capacity((n as usize).min(plain.len() / 24));
        for _ in 0..n {
            let klen = r.u32()? as usize;
            let last_key = r.take(klen)?.to_vec();
            index.push(IndexEntry {
                last_key,
                last_seq: r.u64()?,
                offset: r.u64()?,
                len: r.u32()?,
            });
        }
        let bloom_len = r.u32()? as usize;
        let bloom = Bloom::from_bytes(r.take(bloom_len)?.to_vec());
        let first_len = r.u32()? as usize;
        let first_key = r.take(first_len)?.to_vec();
        if !r.done() {
            return Err(StorageError::corrupt(&name, "index block", "trailing bytes"));
        }
        let prefixes: Vec<u64> = index.iter().map(|ie| key_prefix(&ie.last_key)).collect();
        Ok(Table {
            file: fs.open_read(&path)?,
            name,
            file_id,
            key_id,
            key,
            last_prefix: prefixes.last().copied().unwrap_or(0),
            fences: prefixes.chunks_exact(FENCE).map(|run| run[FENCE - 1]).collect(),
            prefixes,
            index,
            bloom,
            first_key,
            size,
            cache,
        })
    }

    /// The key ranges of this table's blocks that are in the block cache now. A block's range starts at
    /// the key that ended the block before it (a key's versions may run across the boundary).
    pub fn cached_spans(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.index
            .iter()
            .enumerate()
            .filter(|(_, ie)| self.cache.holds(self.file_id, ie.offset))
            .map(|(i, ie)| {
                let first = match i.checked_sub(1) {
                    Some(before) => self.index[before].last_key.clone(),
                    None => self.first_key.clone(),
                };
                (first, ie.last_key.clone())
            })
            .collect()
    }

    /// Drops from the cache this table's blocks from block `from` up to the last one that ends at or before
    /// `key`; returns where the next call should start. A compaction calls it as its output passes `key`.
    pub fn forget_cached_blocks(&self, from: usize, key: &[u8]) -> usize {
        let through = self.index.partition_point(|ie| ie.last_key.as_slice() <= key);
        for ie in self.index.get(from..through).unwrap_or_default() {
            self.cache.forget_block(self.file_id, ie.offset);
        }
        through.max(from)
    }

    /// The smallest internal key in the table.
    pub fn first_key(&self) -> &[u8] {
        &self.first_key
    }

    /// The largest internal key in the table.
    pub fn last_key(&self) -> &[u8] {
        self.index.last().map_or(&[][..], |ie| ie.last_key.as_slice())
    }

    /// The ids of the structures with entries (live or tombstones) in this table, ascending: one seek
    /// from the start of each structure found to the start of the next, so a block per structure is read.
    pub fn structures(self: &Arc<Self>) -> Result<Vec<u32>> {
        let mut end = self.last_key().to_vec();
        end.push(0);
        let mut found = Vec::new();
        let mut from = Vec::new();
        loop {
            let Some((key, _, _)) = self.range(&from, &end, false).next_entry()? else {
                return Ok(found);
            };
            let Some(id) = key
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
            else {
                return Err(StorageError::corrupt(&self.name, "key", "shorter than a structure id"));
            };
            found.push(id);
            match id.checked_add(1) {
                Some(next) => from = next.to_be_bytes().to_vec(),
                None => return Ok(found),
            }
        }
    }

    /// Whether the table may hold keys in `[start, end)`.
    pub fn overlaps(&self, start: &[u8], end: &[u8]) -> bool {
        !self.index.is_empty() && self.first_key.as_slice() < end && self.last_key() >= start
    }

    fn block(&self, i: usize) -> Result<Block> {
        let ie = &self.index[i];
        self.cache.get_or_load(self.file_id, ie.offset, || self.load_block(i))
    }

    /// Index of the first block that can hold `(key, seq)` or anything after it.
    fn seek_block(&self, key: &[u8], seq: u64) -> usize {
        // Entries whose prefix is below the key's have smaller keys, those above larger ones; only the run
        // with an equal prefix needs the keys themselves.
        let p = key_prefix(key);
        // Every run before the first whose last prefix reaches p lies wholly below p.
        let run = self.fences.partition_point(|&x| x < p);
        let start = run * FENCE;
        let end = (start + FENCE).min(self.prefixes.len());
        let lo = start + self.prefixes[start..end].partition_point(|&x| x < p);
        // (key asc, seq desc): (k1, s1) <= (k2, s2) iff k1 < k2 || (k1 == k2 && s1 >= s2).
        past_prefix_ties(&self.prefixes, &self.index, lo, p, |ie| {
            ie.last_key.as_slice() < key || (ie.last_key.as_slice() == key && ie.last_seq > seq)
        })
    }

    /// The newest version of `key` at or below `snapshot`; `hash` is `KeyHash::of(key)`, computed once for
    /// every table a point read consults; `fill_rows` says whether a row found in the file goes into the
    /// row cache.
    pub fn get(
        &self,
        key: &[u8],
        hash: KeyHash,
        snapshot: u64,
        fill_rows: bool,
    ) -> Result<Option<(u64, Option<Vec<u8>>)>> {
        if !self.bloom.may_contain_hash(hash) {
            return Ok(None);
        }
        if !self.cache.caches_rows() {
            return self.find(key, snapshot);
        }
        // The row cache holds the newest version in this file, whatever the snapshot: it answers any read
        // at or after that version. An older snapshot (a version kept for it by compaction) reads the
        // file itself.
        let newest = match self.cache.row(self.file_id, key, hash) {
            Some(row) => Some(row),
            // Nothing to cache: the file is searched once, at the snapshot.
            None if !fill_rows => return self.find(key, snapshot),
            None => {
                let found = self.find(key, u64::MAX)?;
                if let Some((seq, value)) = &found {
                    self.cache.put_row(self.file_id, key, hash, *seq, value.as_deref());
                }
                found
            }
        };
        match newest {
            Some((seq, value)) if seq <= snapshot => Ok(Some((seq, value))),
            Some(_) => self.find(key, snapshot),
            None => Ok(None),
        }
    }

    /// [`Table::get`] from the file (through the block cache), past the bloom filter and the row cache.
    fn find(&self, key: &[u8], snapshot: u64) -> Result<Option<(u64, Option<Vec<u8>>)>> {
        let mut i = self.seek_block(key, snapshot);
        while i < self.index.len() {
            let block = self.block(i)?;
            for e in BlockEntries::new(block.payload(), &self.name)? {
                let (k, s, v) = e?;
                if k > key {
                    return Ok(None);
                }
                if k == key && s <= snapshot {
                    return Ok(Some((s, v.map(<[u8]>::to_vec))));
                }
            }
            i += 1;
        }
        Ok(None)
    }

    /// Lazily reads the versions in `[start, end)`, forward or backward, a block at a time.
    pub fn range(self: &Arc<Self>, start: &[u8], end: &[u8], reverse: bool) -> TableRange {
        let first = self.seek_block(start, u64::MAX);
        let last = self.seek_block(end, u64::MAX).min(self.index.len().saturating_sub(1));
        TableRange {
            table: self.clone(),
            start: start.to_vec(),
            end: end.to_vec(),
            reverse,
            next_block: if reverse { last as isize } else { first as isize },
            first_block: first as isize,
            last_block: last as isize,
            buffer: Vec::new(),
        }
    }

    /// Every entry in order, a block at a time, read past the block cache (for compaction: one pass over
    /// a whole table would only evict the blocks readers want).
    pub fn iter_all(self: &Arc<Self>) -> TableScan {
        TableScan {
            table: self.clone(),
            next_block: 0,
            buffer: Vec::new(),
        }
    }

    /// A block for a scan: from the cache if it is there, else read without filling the cache (a scan's
    /// blocks would push out the ones point reads keep coming back to).
    fn scan_block(&self, i: usize) -> Result<Vec<Entry>> {
        match self.cache.get(self.file_id, self.index[i].offset) {
            Some(b) => decode_block(b.payload(), &self.name),
            None => self.read_entries(i),
        }
    }

    /// Block `i`'s entries, read past the cache.
    fn read_entries(&self, i: usize) -> Result<Vec<Entry>> {
        decode_block(self.load_block(i)?.payload(), &self.name)
    }

    /// Block `i` read, decrypted and decompressed; a raw block stays in the buffer it was read into.
    fn load_block(&self, i: usize) -> Result<BlockBytes> {
        let ie = &self.index[i];
        let raw = self.file.read_at(ie.offset + 4, ie.len as usize)?;
        let plain = self
            .key
            .open_owned(self.file_id, ie.offset, Kind::SstData, raw, &self.name)?;
        let (buf, start) = codec::into_payload(plain, &self.name)?;
        Ok(BlockBytes::new(buf, start))
    }
}

pub struct TableRange {
    table: Arc<Table>,
    start: Vec<u8>,
    end: Vec<u8>,
    reverse: bool,
    next_block: isize,
    first_block: isize,
    last_block: isize,
    /// The current block's entries in output order, reversed so `pop` yields the next one.
    buffer: Vec<Entry>,
}

impl TableRange {
    /// The next version in this range's order: forward = (key asc, seq desc); reverse = (key desc,
    /// seq desc).
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        loop {
            if let Some(e) = self.buffer.pop() {
                return Ok(Some(e));
            }
            if self.table.index.is_empty() || self.next_block < self.first_block || self.next_block > self.last_block {
                return Ok(None);
            }
            let mut raw: Vec<Entry> = self.table.scan_block(self.next_block as usize)?;
            if self.reverse {
                // Versions of one key may run across a block boundary. Forward, they still come newest first;
                // backward, the earlier block must be read together with this one, or the older versions at
                // the start of this block would come out before the newer ones at the end of the earlier.
                while self.next_block > self.first_block
                    && raw
                        .first()
                        .is_some_and(|f| self.table.index[self.next_block as usize - 1].last_key == f.0)
                {
                    self.next_block -= 1;
                    let mut earlier = self.table.scan_block(self.next_block as usize)?;
                    earlier.append(&mut raw);
                    raw = earlier;
                }
            }
            let mut entries: Vec<Entry> = raw
                .into_iter()
                .filter(|(k, _, _)| k.as_slice() >= self.start.as_slice() && k.as_slice() < self.end.as_slice())
                .collect();
            if self.reverse {
                entries.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
                self.next_block -= 1;
            } else {
                self.next_block += 1;
            }
            entries.reverse();
            self.buffer = entries;
        }
    }
}

/// A whole table in order, uncached.
pub struct TableScan {
    table: Arc<Table>,
    next_block: usize,
    /// The current block's remaining entries, reversed so `pop` yields the next one.
    buffer: Vec<Entry>,
}

impl TableScan {
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        loop {
            if let Some(e) = self.buffer.pop() {
                return Ok(Some(e));
            }
            if self.next_block >= self.table.index.len() {
                return Ok(None);
            }
            let mut entries = self.table.read_entries(self.next_block)?;
            self.next_block += 1;
            entries.reverse();
            self.buffer = entries;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_galloping_run_counts_as_a_scan_does(
            mut xs in proptest::collection::vec(0u64..6, 0..300),
            p in 0u64..6,
        ) {
            xs.sort_unstable();
            xs.retain(|&x| x >= p);
            prop_assert_eq!(leading_run_of(&xs, p), xs.iter().take_while(|&&x| x == p).count());
        }

        #[test]
        fn prefixes_order_keys_as_the_keys_do(
            a in proptest::collection::vec(0u8..4, 0..12),
            b in proptest::collection::vec(0u8..4, 0..12),
        ) {
            // Small alphabets and short keys, so zero bytes, equal prefixes and keys shorter than 8 are common.
            if key_prefix(&a) < key_prefix(&b) {
                prop_assert!(a < b);
            }
            if a <= b {
                prop_assert!(key_prefix(&a) <= key_prefix(&b));
            }
        }

        /// A seek through the prefixes lands where a seek over the whole keys lands, for keys that tie on
        /// their first eight bytes, keys shorter than eight, and several versions of a key.
        #[test]
        fn seeks_through_prefixes_agree_with_seeks_over_keys(
            keys in proptest::collection::btree_set(proptest::collection::vec(0u8..3, 0..11), 1..200),
            probes in proptest::collection::vec((proptest::collection::vec(0u8..3, 0..11), 0u64..4), 1..50),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let fs = crate::fs::local();
            let key = Arc::new(DataKey::new(1, &base::SecretBytes::new(vec![9u8; 32])).unwrap());
            // Every key in two versions (seq 3 then 1), with values long enough to fill a block or two.
            let entries: Vec<Entry> = keys
                .iter()
                .flat_map(|k| [(k.clone(), 3, Some(vec![7u8; 1500])), (k.clone(), 1, None)])
                .collect();
            write(fs.as_ref(), dir.path(), 5, &key, &entries, None).unwrap();
            let key_for = |_: u64| Ok(key.clone());
            let table = Table::open(fs, path(dir.path(), 5), &key_for, crate::cache::BlockCache::new(1 << 20).view()).unwrap();
            for (k, seq) in probes {
                let naive = table
                    .index
                    .partition_point(|ie| ie.last_key < k || (ie.last_key == k && ie.last_seq > seq));
                prop_assert_eq!(table.seek_block(&k, seq), naive);
            }
        }
    }

    /// What a compaction reads of an input's residency (`cached_spans`) and how it drops the input's
    /// blocks as its output passes them (`forget_cached_blocks`).
    #[test]
    fn cached_spans_name_the_cached_blocks_and_forgetting_drops_them_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let fs = crate::fs::local();
        let key = Arc::new(DataKey::new(1, &base::SecretBytes::new(vec![9u8; 32])).unwrap());
        // 1,500-byte values: two or three entries a block, so 100 keys make dozens of blocks.
        let entries: Vec<Entry> = (0u32..100)
            .map(|i| (i.to_be_bytes().to_vec(), 1, Some(vec![7u8; 1500])))
            .collect();
        write(fs.as_ref(), dir.path(), 5, &key, &entries, None).unwrap();
        let key_for = |_: u64| Ok(key.clone());
        let cache = crate::cache::BlockCache::new(1 << 20).view();
        let table = Table::open(fs, path(dir.path(), 5), &key_for, cache.clone()).unwrap();
        assert!(table.index.len() > 20, "{} blocks", table.index.len());
        assert!(table.cached_spans().is_empty());
        let held = |t: &Table| -> Vec<usize> {
            (0..t.index.len())
                .filter(|&i| cache.holds(t.file_id, t.index[i].offset))
                .collect()
        };
        for i in [10u32, 50, 90] {
            let k = i.to_be_bytes();
            assert!(table.get(&k, KeyHash::of(&k), u64::MAX, true).unwrap().is_some());
        }
        let cached = held(&table);
        assert_eq!(cached.len(), 3, "one block per key read");
        let spans = table.cached_spans();
        for (i, (first, last)) in [10u32, 50, 90].iter().zip(&spans) {
            let k = i.to_be_bytes().to_vec();
            assert!(
                first <= &k && &k <= last,
                "key {i} outside its block's span {first:?}..={last:?}"
            );
        }
        // Through the key one before the end of 50's block: that block still has keys to come, so only
        // 10's goes. Through its end: 50's goes too, 90's stays; each call returns where the next starts.
        let end_of_50 = table.index[cached[1]].last_key.clone();
        let before_end = (u32::from_be_bytes(end_of_50[..4].try_into().unwrap()) - 1).to_be_bytes();
        let next = table.forget_cached_blocks(0, &before_end);
        assert_eq!(held(&table), cached[1..].to_vec());
        let next = table.forget_cached_blocks(next, &end_of_50);
        assert_eq!(held(&table), vec![cached[2]]);
        assert!(next > cached[1] && next <= cached[2], "{next}");
        assert_eq!(table.forget_cached_blocks(next, &[0xff; 4]), table.index.len());
        assert!(held(&table).is_empty());
    }
}
