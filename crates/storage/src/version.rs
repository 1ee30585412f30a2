//! The live set of SSTs, by level, and the choice of what to compact next.
//!
//! Level 0 holds flushed memtables in flush order; their key ranges overlap. Every deeper level is one sorted
//! run: its tables are in key order and never share a key, so a point read looks at one table per level.
//! A level holds about ten times the bytes of the one above it, so each byte is rewritten about once per
//! level (leveled compaction, as in LevelDB and RocksDB).

use std::sync::{Arc, OnceLock};

use crate::sst::{past_prefix_ties, Table};

/// Levels 0 to 6.
pub const LEVELS: usize = 7;

/// A version is built (from tables, or as an edited clone of the current one) and then only read: the
/// engine shares it behind an `Arc`.
#[derive(Default)]
pub struct Version {
    pub levels: Vec<Vec<Arc<Table>>>,
    /// Per deeper level (level 1 first), its tables' last-key prefixes side by side, built by the first
    /// point read. A search of a
    /// deeper level compares these and reaches a table only on a tie: through the tables themselves, each
    /// step of the search was a cache miss on a large level (hundreds of tables at 10,000,000 items).
    last_prefixes: OnceLock<Vec<Vec<u64>>>,
}

impl Clone for Version {
    /// The clone is about to be edited, so it builds its own prefixes when it is first read.
    fn clone(&self) -> Version {
        Version {
            levels: self.levels.clone(),
            last_prefixes: OnceLock::new(),
        }
    }
}

/// Compaction thresholds (from the engine's options).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub l0_trigger: usize,
    pub level1_bytes: u64,
}

/// One compaction: merge `inputs` into `output_level`.
pub struct Task {
    pub inputs: Vec<Arc<Table>>,
    pub output_level: usize,
    /// No deeper level holds any key of the inputs' span: deletions that no snapshot needs can go.
    pub bottommost: bool,
}

/// Inclusive key span of some tables.
fn span<'a>(tables: impl Iterator<Item = &'a Arc<Table>>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut out: Option<(Vec<u8>, Vec<u8>)> = None;
    for t in tables {
        let (f, l) = (t.first_key(), t.last_key());
        out = Some(match out {
            None => (f.to_vec(), l.to_vec()),
            Some((a, b)) => (a.min(f.to_vec()), b.max(l.to_vec())),
        });
    }
    out
}

fn overlaps_inclusive(t: &Table, lo: &[u8], hi: &[u8]) -> bool {
    t.first_key() <= hi && t.last_key() >= lo
}

impl Version {
    pub fn new() -> Version {
        Version {
            levels: vec![Vec::new(); LEVELS],
            last_prefixes: OnceLock::new(),
        }
    }

    /// Builds a version from `(level, table)` pairs in manifest order.
    pub fn from_tables(tables: Vec<(u8, Arc<Table>)>) -> Version {
        let mut v = Version::new();
        for (level, t) in tables {
            v.levels[(level as usize).min(LEVELS - 1)].push(t);
        }
        for level in v.levels.iter_mut().skip(1) {
            level.sort_by(|a, b| a.first_key().cmp(b.first_key()));
        }
        v
    }

    /// `(level, file id)` of every table, for the manifest.
    pub fn manifest_tables(&self) -> Vec<(u8, u64)> {
        self.levels
            .iter()
            .enumerate()
            .flat_map(|(l, ts)| ts.iter().map(move |t| (l as u8, t.file_id)))
            .collect()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Table>> {
        self.levels.iter().flatten()
    }

    pub fn l0_count(&self) -> usize {
        self.levels[0].len()
    }

    /// The tables a point read of `key` must consult: every level-0 table, newest first, then at most one
    /// table per deeper level.
    pub fn for_key<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = &'a Arc<Table>> + 'a {
        let l0 = self.levels[0].iter().rev();
        let p = crate::sst::key_prefix(key);
        let prefixes = self.last_prefixes.get_or_init(|| {
            self.levels[1..]
                .iter()
                .map(|level| level.iter().map(|t| t.last_prefix).collect())
                .collect()
        });
        let deeper = self.levels[1..].iter().zip(prefixes).filter_map(move |(level, last)| {
            // The first table whose last key reaches the key.
            let i = past_prefix_ties(last, level, last.partition_point(|&x| x < p), p, |t| t.last_key() < key);
            level.get(i).filter(|t| t.first_key() <= key)
        });
        l0.chain(deeper)
    }

    /// The tables of deeper level `level` (one sorted run) that may hold keys in `[start, end)`, in key
    /// order.
    pub fn in_range(&self, level: usize, start: &[u8], end: &[u8]) -> &[Arc<Table>] {
        let tables = &self.levels[level];
        let first = tables.partition_point(|t| t.last_key() < start);
        let past = first + tables[first..].partition_point(|t| t.first_key() < end);
        &tables[first..past]
    }

    fn level_bytes(&self, level: usize) -> u64 {
        self.levels[level].iter().map(|t| t.size).sum()
    }

    fn target_bytes(shape: Shape, level: usize) -> u64 {
        shape
            .level1_bytes
            .saturating_mul(10u64.saturating_pow(level.saturating_sub(1) as u32))
    }

    fn is_bottommost(&self, output_level: usize, lo: &[u8], hi: &[u8]) -> bool {
        self.levels[output_level + 1..]
            .iter()
            .flatten()
            .all(|t| !overlaps_inclusive(t, lo, hi))
    }

    /// The most urgent compaction, if any is due: level 0 by file count, deeper levels by size.
    pub fn pick(&self, shape: Shape) -> Option<Task> {
        if self.l0_count() >= shape.l0_trigger {
            let l0: Vec<Arc<Table>> = self.levels[0].clone();
            return Some(self.task_into(1, l0));
        }
        for level in 1..LEVELS - 1 {
            if self.level_bytes(level) > Self::target_bytes(shape, level) {
                // The largest table moves down: it frees the most room for one compaction.
                let t = self.levels[level].iter().max_by_key(|t| t.size)?.clone();
                return Some(self.task_into(level + 1, vec![t]));
            }
        }
        None
    }

    /// `upper` merged with the tables of `output_level` that share its span.
    fn task_into(&self, output_level: usize, upper: Vec<Arc<Table>>) -> Task {
        let (lo, hi) = span(upper.iter()).unwrap_or_default();
        let mut inputs = upper;
        inputs.extend(
            self.levels[output_level]
                .iter()
                .filter(|t| overlaps_inclusive(t, &lo, &hi))
                .cloned(),
        );
        let (lo, hi) = span(inputs.iter()).unwrap_or_default();
        Task {
            bottommost: self.is_bottommost(output_level, &lo, &hi),
            inputs,
            output_level,
        }
    }

    /// Everything into the deepest level in use (at least level 1): a full compaction.
    pub fn full(&self) -> Option<Task> {
        let inputs: Vec<Arc<Table>> = self.all().cloned().collect();
        if inputs.is_empty() {
            return None;
        }
        let deepest = (1..LEVELS).rev().find(|l| !self.levels[*l].is_empty()).unwrap_or(1);
        Some(Task {
            inputs,
            output_level: deepest,
            bottommost: true,
        })
    }

    /// This version with `task`'s inputs replaced by `outputs`.
    pub fn apply(&self, task: &Task, outputs: Vec<Arc<Table>>) -> Version {
        let gone: Vec<u64> = task.inputs.iter().map(|t| t.file_id).collect();
        let mut v = self.clone();
        for level in v.levels.iter_mut() {
            level.retain(|t| !gone.contains(&t.file_id));
        }
        v.levels[task.output_level].extend(outputs);
        v.levels[task.output_level].sort_by(|a, b| a.first_key().cmp(b.first_key()));
        v
    }
}
