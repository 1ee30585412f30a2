//! The in-memory table of recent writes: every version of every key, newest first per key.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use crate::batch::WriteBatch;

/// An internal key: structure id, then the user key. Sorting by it keeps each structure's keys together.
pub fn internal_key(structure: u32, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + key.len());
    k.extend_from_slice(&structure.to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// One version: `None` is a deletion.
pub type Version = (u64, Option<Vec<u8>>);

/// `(internal key, sequence)` ordered key ascending, sequence descending, to the value (`None` = deleted).
type Versions = BTreeMap<(Vec<u8>, Reverse<u64>), Option<Vec<u8>>>;

/// One item of [`Versions`], borrowed.
type VersionRef<'a> = (&'a (Vec<u8>, Reverse<u64>), &'a Option<Vec<u8>>);

#[derive(Default)]
pub struct Memtable {
    map: RwLock<Versions>,
    bytes: std::sync::atomic::AtomicUsize,
}

impl Memtable {
    pub fn apply(&self, seq: u64, batch: &WriteBatch) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        for op in &batch.ops {
            map.insert((internal_key(op.structure, &op.key), Reverse(seq)), op.value.clone());
        }
        self.bytes
            .fetch_add(batch.payload_size(), std::sync::atomic::Ordering::Relaxed);
    }

    pub fn approximate_bytes(&self) -> usize {
        self.bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.map.read().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// The newest version of `key` at or below `snapshot`.
    pub fn get(&self, key: &[u8], snapshot: u64) -> Option<Version> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.range((key.to_vec(), Reverse(snapshot))..)
            .next()
            .filter(|((k, _), _)| k.as_slice() == key)
            .map(|((_, Reverse(s)), v)| (*s, v.clone()))
    }

    /// Up to about `n` versions of `[start, end)` after `cursor` (exclusive; `None` = from the edge), in
    /// (key ascending, sequence descending) order, or (key descending, sequence descending) when
    /// `reverse`. A chunk never ends inside a key's versions, so the next one resumes at a key boundary.
    pub fn chunk(
        &self,
        start: &[u8],
        end: &[u8],
        cursor: Option<&[u8]>,
        reverse: bool,
        n: usize,
    ) -> Vec<(Vec<u8>, u64, Option<Vec<u8>>)> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<(Vec<u8>, u64, Option<Vec<u8>>)> = Vec::new();
        let entry = |((k, Reverse(s)), v): VersionRef<'_>| (k.clone(), *s, v.clone());
        if !reverse {
            let lo = match cursor {
                // Past every version of the cursor key.
                Some(c) => Bound::Excluded((c.to_vec(), Reverse(0))),
                None => Bound::Included((start.to_vec(), Reverse(u64::MAX))),
            };
            for item in map.range((lo, Bound::Excluded((end.to_vec(), Reverse(u64::MAX))))) {
                if out.len() >= n && out.last().is_some_and(|l| l.0 != item.0 .0) {
                    break;
                }
                out.push(entry(item));
            }
        } else {
            let hi = match cursor {
                Some(c) => Bound::Excluded((c.to_vec(), Reverse(u64::MAX))),
                None => Bound::Excluded((end.to_vec(), Reverse(u64::MAX))),
            };
            for item in map
                .range((Bound::Included((start.to_vec(), Reverse(u64::MAX))), hi))
                .rev()
            {
                if out.len() >= n && out.last().is_some_and(|l| l.0 != item.0 .0) {
                    break;
                }
                out.push(entry(item));
            }
            // Backwards the versions of a key came oldest first.
            out.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        }
        out
    }

    /// Everything, for a flush.
    pub fn entries(&self) -> Vec<(Vec<u8>, u64, Option<Vec<u8>>)> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|((k, Reverse(s)), v)| (k.clone(), *s, v.clone()))
            .collect()
    }
}
