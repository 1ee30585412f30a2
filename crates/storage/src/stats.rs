//! Process-wide counts of the engine's background and durability work, for the operator's metrics
//! (`GET /metrics`): memtable flushes, compactions and WAL fsyncs, over every engine in the process.

use std::sync::atomic::{AtomicU64, Ordering};

static FLUSHES: AtomicU64 = AtomicU64::new(0);
static COMPACTIONS: AtomicU64 = AtomicU64::new(0);
static WAL_SYNCS: AtomicU64 = AtomicU64::new(0);

pub(crate) fn flushed() {
    FLUSHES.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn compacted() {
    COMPACTIONS.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn wal_synced() {
    WAL_SYNCS.fetch_add(1, Ordering::Relaxed);
}

/// What has been done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub flushes: u64,
    pub compactions: u64,
    pub wal_syncs: u64,
}

pub fn counts() -> Counts {
    Counts {
        flushes: FLUSHES.load(Ordering::Relaxed),
        compactions: COMPACTIONS.load(Ordering::Relaxed),
        wal_syncs: WAL_SYNCS.load(Ordering::Relaxed),
    }
}
