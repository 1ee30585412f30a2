//! The k-way merge shared by range reads and compaction: versions from several sorted sources, in key
//! order (either direction), newest version of a key first.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::error::Result;
use crate::sst::{self, Entry};

/// A source of versions, in the merge's order.
pub enum Source {
    Vec(std::vec::IntoIter<Entry>),
    Table(sst::TableRange),
}

impl Source {
    pub fn vec(mut v: Vec<Entry>, reverse: bool) -> Source {
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
