//! What LookupEvents searches, in bounded memory. The newest events are held whole; older ones are folded,
//! [`CHUNK`] at a time, into a [`ChunkSummary`] (time range and the hashes of the attribute values its
//! events carry), and their records are read back from the sealed trail file when a lookup cannot rule the
//! chunk out. Memory then grows by a summary per chunk instead of a whole record per event.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::lookup::LookupAttribute;

/// Events per chunk: a lookup that cannot skip a chunk decrypts this many records.
pub(crate) const CHUNK: u64 = 4096;

/// Beyond this many distinct values a summary stops listing them, and the chunk is read on every lookup
/// that gets that far (still correct, only slower).
const SUMMARY_CAP: usize = 1024;

/// What the index keeps of each event, for LookupEvents.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: u64,
    pub account: String,
    pub region: String,
    pub time_ms: i64,
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    pub read_only: bool,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub resources: Vec<(String, String)>,
    pub record_json: String,
}

/// Shared by the writer thread and the index: how far the file is written, and where each chunk starts.
#[derive(Default)]
pub(crate) struct Progress {
    pub written_seq: AtomicU64,
    pub chunk_starts: Mutex<Vec<u64>>,
}

impl Progress {
    /// The byte range of chunk `k`, once the first record after it is written.
    pub fn chunk_range(&self, k: usize) -> Option<(u64, u64)> {
        let starts = self.chunk_starts.lock().unwrap_or_else(|p| p.into_inner());
        Some((*starts.get(k)?, *starts.get(k + 1)?))
    }
}

pub(crate) struct ChunkSummary {
    pub index: usize,
    pub first_seq: u64,
    min_ms: i64,
    max_ms: i64,
    values: Option<HashSet<u64>>,
}

fn key_hash(tag: u8, value: &str) -> u64 {
    let mut h = DefaultHasher::new();
    tag.hash(&mut h);
    value.hash(&mut h);
    h.finish()
}

fn scope_hash(account: &str, region: &str) -> u64 {
    let mut h = DefaultHasher::new();
    b'A'.hash(&mut h);
    account.hash(&mut h);
    region.hash(&mut h);
    h.finish()
}

/// The hashes under which an event can be found (event ids excepted: each is unique, so listing them
/// would cost as much as keeping the events).
fn event_keys(e: &StoredEvent) -> impl Iterator<Item = u64> + '_ {
    let fixed = [
        scope_hash(&e.account, &e.region),
        key_hash(b'N', &e.event_name),
        key_hash(b'S', &e.event_source),
        key_hash(b'R', if e.read_only { "true" } else { "false" }),
    ];
    let optional = [
        e.username.as_deref().map(|u| key_hash(b'U', u)),
        e.access_key_id.as_deref().map(|k| key_hash(b'K', k)),
    ];
    let resources = e
        .resources
        .iter()
        .flat_map(|(t, n)| [key_hash(b'T', t), key_hash(b'M', n)]);
    fixed.into_iter().chain(optional.into_iter().flatten()).chain(resources)
}

fn attribute_key(a: &LookupAttribute) -> Option<u64> {
    Some(match a {
        LookupAttribute::EventId(_) => return None,
        LookupAttribute::EventName(v) => key_hash(b'N', v),
        LookupAttribute::EventSource(v) => key_hash(b'S', v),
        LookupAttribute::ReadOnly(v) => key_hash(b'R', v),
        LookupAttribute::Username(v) => key_hash(b'U', v),
        LookupAttribute::AccessKeyId(v) => key_hash(b'K', v),
        LookupAttribute::ResourceType(v) => key_hash(b'T', v),
        LookupAttribute::ResourceName(v) => key_hash(b'M', v),
    })
}

impl ChunkSummary {
    fn of(index: usize, events: &[Arc<StoredEvent>]) -> ChunkSummary {
        let mut values = Some(HashSet::new());
        for e in events {
            if let Some(set) = &mut values {
                set.extend(event_keys(e));
                if set.len() > SUMMARY_CAP {
                    values = None;
                }
            }
        }
        ChunkSummary {
            index,
            first_seq: events.first().map_or(0, |e| e.seq),
            min_ms: events.iter().map(|e| e.time_ms).min().unwrap_or(i64::MIN),
            max_ms: events.iter().map(|e| e.time_ms).max().unwrap_or(i64::MAX),
            values,
        }
    }

    /// False only when no event of the chunk can match.
    pub fn may_match(
        &self,
        account: &str,
        region: &str,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
        attributes: &[LookupAttribute],
    ) -> bool {
        if start_ms.is_some_and(|s| self.max_ms < s) || end_ms.is_some_and(|e| self.min_ms > e) {
            return false;
        }
        let Some(values) = &self.values else { return true };
        values.contains(&scope_hash(account, region))
            && attributes.iter().filter_map(attribute_key).all(|k| values.contains(&k))
    }
}

/// The searchable events: summaries of old chunks, oldest first, then the recent events whole.
#[derive(Default)]
pub(crate) struct Events {
    pub chunks: Vec<Arc<ChunkSummary>>,
    pub recent: VecDeque<Arc<StoredEvent>>,
}

impl Events {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.chunks.len() * CHUNK as usize + self.recent.len()
    }
}

/// Folds the oldest whole chunks of recent events into summaries, once their records are on disk and at
/// least a chunk of newer events stays whole (so paging through recent events reads nothing back). Run by
/// the trail's writer thread, never on a request: summarizing and freeing a chunk's events takes a
/// millisecond or two, and the write lock is held only to swap them for the summary.
pub(crate) fn fold_old_chunks(events: &RwLock<Events>, progress: &Progress) {
    loop {
        let (k, chunk) = {
            let ev = events.read().unwrap_or_else(|p| p.into_inner());
            let k = ev.chunks.len();
            let written = progress.written_seq.load(Ordering::Acquire);
            if (ev.recent.len() as u64) < 2 * CHUNK || written < (k as u64 + 1) * CHUNK + 1 {
                return;
            }
            let chunk: Vec<Arc<StoredEvent>> = ev.recent.iter().take(CHUNK as usize).cloned().collect();
            (k, chunk)
        };
        let summary = Arc::new(ChunkSummary::of(k, &chunk));
        let drained: Vec<Arc<StoredEvent>> = {
            let mut ev = events.write().unwrap_or_else(|p| p.into_inner());
            ev.chunks.push(summary);
            ev.recent.drain(..CHUNK as usize).collect()
        };
        drop(drained);
    }
}
