//! The k-way merge shared by range reads and compaction: versions from several sorted sources, in key
//! order (either direction), newest version of a key first.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use std::sync::Arc;

use crate::error::Result;
use crate::memtable::Memtable;
use crate::sst::{self, Entry};

/// A source of versions, in the merge's order.
pub enum Source {
    Mem(MemRange),
    Table(sst::TableRange),
    Level(LevelRange),
    Scan(sst::TableScan),
}

/// A range over the tables of one deeper level, which are in key order and share no key: one table at a
/// time, the next opened only when the last runs out. A range with an open end (a Scan page) overlaps
/// every table of a level from its start on, and a merge reads the first block of each source it is
/// given before it yields anything: as a source per table, a page of a large table would read and decrypt
/// a block in each of hundreds of tables to return the items of one or two.
pub struct LevelRange {
    /// The tables still to open, in the order they are read (the last one first).
    tables: Vec<Arc<sst::Table>>,
    current: Option<sst::TableRange>,
    start: Vec<u8>,
    end: Vec<u8>,
    reverse: bool,
}

impl LevelRange {
    /// `tables` are the level's tables overlapping `[start, end)`, in key order.
    pub fn new(mut tables: Vec<Arc<sst::Table>>, start: &[u8], end: &[u8], reverse: bool) -> LevelRange {
        if !reverse {
            tables.reverse();
        }
        LevelRange {
            tables,
            current: None,
            start: start.to_vec(),
            end: end.to_vec(),
            reverse,
        }
    }

    fn next_entry(&mut self) -> Result<Option<Entry>> {
        loop {
            if let Some(e) = self
                .current
                .as_mut()
                .map(sst::TableRange::next_entry)
                .transpose()?
                .flatten()
            {
                return Ok(Some(e));
            }
            let Some(next) = self.tables.pop() else {
                return Ok(None);
            };
            self.current = Some(next.range(&self.start, &self.end, self.reverse));
        }
    }
}

/// A memtable's part of a range as seen at a snapshot (one version a key, the visible one), copied out a
/// chunk at a time, so a short scan of a large range copies a little of the memtable, not all of it, and
/// holds its lock only briefly.
pub struct MemRange {
    mem: Arc<Memtable>,
    start: Vec<u8>,
    end: Vec<u8>,
    reverse: bool,
    snapshot: u64,
    cursor: Option<Vec<u8>>,
    buffer: std::vec::IntoIter<Entry>,
    done: bool,
}

impl MemRange {
    const CHUNK: usize = 256;

    pub fn new(mem: Arc<Memtable>, start: &[u8], end: &[u8], reverse: bool, snapshot: u64) -> MemRange {
        MemRange {
            mem,
            start: start.to_vec(),
            end: end.to_vec(),
            reverse,
            snapshot,
            cursor: None,
            buffer: Vec::new().into_iter(),
            done: false,
        }
    }

    fn next(&mut self) -> Option<Entry> {
        loop {
            if let Some(e) = self.buffer.next() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            let (chunk, exhausted) = self.mem.chunk(
                &self.start,
                &self.end,
                self.cursor.as_deref(),
                self.reverse,
                self.snapshot,
                Self::CHUNK,
            );
            self.done = exhausted;
            match chunk.last() {
                Some(last) => self.cursor = Some(last.0.clone()),
                None => return None,
            }
            self.buffer = chunk.into_iter();
        }
    }
}

impl Source {
    fn next(&mut self) -> Result<Option<Entry>> {
        match self {
            Source::Mem(m) => Ok(m.next()),
            Source::Table(r) => r.next_entry(),
            Source::Level(r) => r.next_entry(),
            Source::Scan(r) => r.next_entry(),
        }
    }
}

/// The merged stream.
pub struct Merge {
    sources: Vec<Source>,
    heap: BinaryHeap<Head>,
    reverse: bool,
}

impl Merge {
    pub fn new(mut sources: Vec<Source>, reverse: bool) -> Result<Merge> {
        let mut heap = BinaryHeap::new();
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some(e) = s.next()? {
                heap.push(Head {
                    entry: e,
                    src: i,
                    reverse,
                });
            }
        }
        Ok(Merge { sources, heap, reverse })
    }

    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        let Some(Head { entry, src, .. }) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(e) = self.sources[src].next()? {
            self.heap.push(Head {
                entry: e,
                src,
                reverse: self.reverse,
            });
        }
        Ok(Some(entry))
    }
}

/// A heap item ordered so the heap pops the next entry: by key in the merge's direction, then newest
/// version first.
struct Head {
    entry: Entry,
    src: usize,
    reverse: bool,
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

/// What compaction keeps of one key's versions (newest first): every version a held snapshot may still
/// need, the newest of the rest, and not even that if it is a deletion nothing deeper can be hiding.
pub fn retain_versions(versions: &mut Vec<Entry>, oldest_snapshot: u64, drop_deletions: bool) {
    let mut seen_old = false;
    versions.retain(|e| {
        if e.1 > oldest_snapshot {
            return true;
        }
        if seen_old {
            return false;
        }
        seen_old = true;
        e.2.is_some() || !drop_deletions
    });
}

/// [`retain_versions`] over sorted entries (each key's versions together, newest first).
pub fn retain_sorted(entries: Vec<Entry>, oldest_snapshot: u64, drop_deletions: bool) -> Vec<Entry> {
    let mut out = Vec::with_capacity(entries.len());
    let mut group: Vec<Entry> = Vec::new();
    for e in entries {
        if group.first().is_some_and(|g| g.0 != e.0) {
            retain_versions(&mut group, oldest_snapshot, drop_deletions);
            out.append(&mut group);
        }
        group.push(e);
    }
    retain_versions(&mut group, oldest_snapshot, drop_deletions);
    out.append(&mut group);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::WriteBatch;

    /// Chunked memtable ranges give exactly the version of each key visible at the snapshot, in key order
    /// both ways, across many chunk boundaries, with keys of several versions, deletions, and keys whose
    /// every version is newer than the snapshot.
    #[test]
    fn memtable_chunks_match_a_sorted_copy() {
        let mem = Arc::new(Memtable::default());
        let mut seq = 0;
        for round in 0..3u32 {
            for i in 0..700u32 {
                if (i + round) % 3 == 0 {
                    continue;
                }
                seq += 1;
                let mut b = WriteBatch::new();
                if i % 7 == 0 {
                    b.delete(1, &i.to_be_bytes());
                } else {
                    b.put(1, &i.to_be_bytes(), format!("{round}").as_bytes());
                }
                mem.apply(seq, &b);
            }
        }
        let all = mem.entries();
        for snapshot in [seq, seq / 2, 300, 0] {
            for (lo, hi) in [(0u32, 700u32), (10, 650), (300, 301), (5, 5)] {
                let start = crate::memtable::internal_key(1, &lo.to_be_bytes());
                let end = crate::memtable::internal_key(1, &hi.to_be_bytes());
                // The sorted copy, newest first per key: the first version at or below the snapshot.
                let mut want: Vec<Entry> = Vec::new();
                for e in all.iter().filter(|e| e.0 >= start && e.0 < end && e.1 <= snapshot) {
                    if want.last().is_none_or(|w| w.0 != e.0) {
                        want.push(e.clone());
                    }
                }
                for reverse in [false, true] {
                    if reverse {
                        want.reverse();
                    }
                    let mut r = MemRange::new(mem.clone(), &start, &end, reverse, snapshot);
                    let mut got = Vec::new();
                    while let Some(e) = r.next() {
                        got.push(e);
                    }
                    assert_eq!(got, want, "{lo}..{hi} reverse={reverse} snapshot={snapshot}");
                }
            }
        }
    }

    /// A level read as one source gives the level's versions in order both ways, from a start and to an
    /// end inside tables, and opens a table only when the one before it is used up.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_level_range_reads_its_tables_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let fs = crate::fs::local();
        let key = Arc::new(crate::seal::DataKey::new(1, &base::SecretBytes::new(vec![9u8; 32])).unwrap());
        let cache = crate::cache::BlockCache::new(1 << 20);
        // Three tables of ten keys each: k00-k09, k10-k19, k20-k29, each key in one version.
        let name = |i: u32| format!("k{i:02}").into_bytes();
        let tables: Vec<Arc<sst::Table>> = (0..3u32)
            .map(|t| {
                let entries: Vec<Entry> = (t * 10..t * 10 + 10)
                    .map(|i| (name(i), 1, Some(vec![i as u8])))
                    .collect();
                sst::write(fs.as_ref(), dir.path(), u64::from(t) + 1, &key, &entries, None).unwrap();
                let key_for = |_: u64| Ok(key.clone());
                let path = sst::path(dir.path(), u64::from(t) + 1);
                Arc::new(sst::Table::open(fs.clone(), path, &key_for, cache.view()).unwrap())
            })
            .collect();
        let read = |start: u32, end: u32, reverse: bool| {
            let mut r = LevelRange::new(tables.clone(), &name(start), &name(end), reverse);
            let mut got = Vec::new();
            while let Some((k, s, v)) = r.next_entry().unwrap() {
                assert_eq!((s, v), (1, Some(vec![k[2] - b'0' + (k[1] - b'0') * 10])));
                got.push(String::from_utf8(k).unwrap());
            }
            got
        };
        let want = |start: u32, end: u32| (start..end).map(|i| format!("k{i:02}")).collect::<Vec<_>>();
        assert_eq!(read(5, 25, false), want(5, 25));
        assert_eq!(read(5, 25, true), want(5, 25).into_iter().rev().collect::<Vec<_>>());
        assert_eq!(read(0, 30, false), want(0, 30));
        assert_eq!(read(12, 13, true), want(12, 13));

        // One entry from a source over all three tables reads one table's block, not one in each.
        let (_, hits, misses) = cache.stats();
        let mut r = LevelRange::new(tables.clone(), &name(0), &name(30), false);
        assert!(r.next_entry().unwrap().is_some());
        let (_, hits_after, misses_after) = cache.stats();
        assert_eq!(hits_after + misses_after - hits - misses, 1, "one block looked up");
    }
}
