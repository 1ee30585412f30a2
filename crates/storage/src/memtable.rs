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

    /// Up to `n` keys of `[start, end)` after `cursor` (exclusive; `None` = from the edge), ascending, or
    /// descending when `reverse`, each with its version visible at `snapshot` (the newest at or below it,
    /// a deletion included); keys with no such version are passed over. Whether the range is exhausted
    /// comes with them. Older versions are stepped over by seeking, so a key overwritten thousands of
    /// times costs a read what a key written once does.
    pub fn chunk(
        &self,
        start: &[u8],
        end: &[u8],
        cursor: Option<&[u8]>,
        reverse: bool,
        snapshot: u64,
        n: usize,
    ) -> (Vec<crate::sst::Entry>, bool) {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<crate::sst::Entry> = Vec::new();
        // The version of `key` visible at the snapshot, if any.
        let visible = |key: &Vec<u8>| {
            map.range((
                Bound::Included((key.clone(), Reverse(snapshot))),
                Bound::Included((key.clone(), Reverse(0))),
            ))
            .next()
            .map(|((k, Reverse(s)), v)| (k.clone(), *s, v.clone()))
        };
        let floor = Bound::Included((start.to_vec(), Reverse(u64::MAX)));
        let ceiling = Bound::Excluded((end.to_vec(), Reverse(u64::MAX)));
        if !reverse {
            let mut lo = match cursor {
                // Past every version of the cursor key.
                Some(c) => Bound::Excluded((c.to_vec(), Reverse(0))),
                None => floor,
            };
            while out.len() < n {
                let Some(((key, Reverse(seq)), value)) = map.range((lo, ceiling.clone())).next() else {
                    return (out, true);
                };
                let key = key.clone();
                // Forward, a key's newest version comes first: it is the visible one unless it is newer
                // than the snapshot.
                if *seq <= snapshot {
                    out.push((key.clone(), *seq, value.clone()));
                } else {
                    out.extend(visible(&key));
                }
                lo = Bound::Excluded((key, Reverse(0)));
            }
        } else {
            let mut hi = match cursor {
                Some(c) => Bound::Excluded((c.to_vec(), Reverse(u64::MAX))),
                None => ceiling,
            };
            while out.len() < n {
                let Some(((key, _), _)) = map.range((floor.clone(), hi)).next_back() else {
                    return (out, true);
                };
                let key = key.clone();
                out.extend(visible(&key));
                hi = Bound::Excluded((key, Reverse(u64::MAX)));
            }
        }
        (out, false)
    }

    /// Everything, for a flush.
    pub fn entries(&self) -> Vec<(Vec<u8>, u64, Option<Vec<u8>>)> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|((k, Reverse(s)), v)| (k.clone(), *s, v.clone()))
            .collect()
    }
}
