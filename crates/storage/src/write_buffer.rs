//! One memory bound for the memtables of many engines (RocksDB's `WriteBufferManager`).
//!
//! Each engine reports what its memtables (the live one and the one being flushed) hold. Once all of them
//! together pass the bound, the engine holding the most is asked to freeze and flush its memtable, whether
//! or not it is the one being written. Without the bound, each table keeps up to two full memtables for as
//! long as it stays open, written or idle, so a server's memory grew with the number of tables written.

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// What the bound needs of an engine.
pub(crate) trait Member: Send + Sync {
    /// Freeze the memtable and flush it, in the background.
    fn request_flush(&self);
}

/// A member and what it is counted for (that counter, shared with its [`Membership`], also names it).
type Entry = (Weak<dyn Member>, Arc<AtomicUsize>);

/// The shared bound. Engines take part through [`crate::Options::write_buffers`].
pub struct WriteBuffers {
    limit: usize,
    /// Signed: two reports of one member may land out of order, and the total dips below zero for a moment.
    used: AtomicIsize,
    members: Mutex<Vec<Entry>>,
    /// When the engine holding the most was last asked to flush: one request at a time, until a flush
    /// lowers the total or the request is a second old (the flush may have failed).
    asked_at: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for WriteBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBuffers")
            .field("limit", &self.limit)
            .field("used", &self.used())
            .finish()
    }
}

const RETRY_AFTER: Duration = Duration::from_secs(1);

impl WriteBuffers {
    pub fn new(limit: usize) -> Arc<WriteBuffers> {
        Arc::new(WriteBuffers {
            limit,
            used: AtomicIsize::new(0),
            members: Mutex::new(Vec::new()),
            asked_at: Mutex::new(None),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes the memtables of all members held when they last reported.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed).max(0) as usize
    }

    pub(crate) fn join(self: &Arc<Self>, member: Weak<dyn Member>) -> Membership {
        let charged = Arc::new(AtomicUsize::new(0));
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((member, charged.clone()));
        Membership {
            charged,
            buffers: self.clone(),
        }
    }

    /// Asks the member holding the most to flush, unless a request is already under way.
    fn relieve(&self) {
        {
            let mut asked = self.asked_at.lock().unwrap_or_else(|p| p.into_inner());
            if asked.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
                return;
            }
            *asked = Some(Instant::now());
        }
        let largest = {
            let members = self.members.lock().unwrap_or_else(|p| p.into_inner());
            members
                .iter()
                .max_by_key(|(_, charged)| charged.load(Ordering::Relaxed))
                .and_then(|(m, _)| m.upgrade())
        };
        // Outside the list's lock: the member takes its own locks.
        if let Some(m) = largest {
            m.request_flush();
        }
    }
}

/// An engine's place under the bound; leaving it (drop) takes back what the engine was counted for.
pub(crate) struct Membership {
    charged: Arc<AtomicUsize>,
    buffers: Arc<WriteBuffers>,
}

impl Membership {
    /// Counts the member for `held` bytes from now on, and if all members together are over the bound,
    /// has the one holding the most flush.
    pub(crate) fn report(&self, held: usize) {
        let before = self.charged.swap(held, Ordering::Relaxed);
        let b = &self.buffers;
        let delta = held as isize - before as isize;
        if delta < 0 {
            // A flush finished somewhere: the next request may go out at once.
            *b.asked_at.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        let total = b.used.fetch_add(delta, Ordering::Relaxed) + delta;
        if total > b.limit as isize {
            b.relieve();
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let charged = self.charged.swap(0, Ordering::Relaxed);
        self.buffers.used.fetch_sub(charged as isize, Ordering::Relaxed);
        self.buffers
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(_, charged)| !Arc::ptr_eq(charged, &self.charged));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[derive(Default)]
    struct Fake {
        asked: AtomicBool,
    }

    impl Member for Fake {
        fn request_flush(&self) {
            self.asked.store(true, Ordering::Relaxed);
        }
    }

    impl Fake {
        fn asked(&self) -> bool {
            self.asked.swap(false, Ordering::Relaxed)
        }
    }

    /// A bound of `limit` with two members.
    fn two_members(limit: usize) -> (Arc<WriteBuffers>, [(Arc<Fake>, Membership); 2]) {
        let b = WriteBuffers::new(limit);
        let member = || {
            let f = Arc::new(Fake::default());
            let weak: Weak<dyn Member> = Arc::downgrade(&f) as Weak<dyn Member>;
            let m = b.join(weak);
            (f, m)
        };
        let members = [member(), member()];
        (b, members)
    }

    #[test]
    fn the_member_holding_the_most_is_asked_to_flush_once_the_total_passes_the_bound() {
        let (b, [(idle, m_idle), (busy, m_busy)]) = two_members(100);
        m_idle.report(70);
        m_busy.report(20);
        assert_eq!(b.used(), 90);
        assert!(!idle.asked(), "under the bound nobody flushes");
        // The busy member's write passes the bound; the idle one holds more, so it is the one asked.
        m_busy.report(40);
        assert!(idle.asked());
        assert!(!busy.asked());
        // One request at a time: a second write over the bound does not ask again...
        m_busy.report(45);
        assert!(!idle.asked());
        // ...until a flush lowers the total.
        m_idle.report(0);
        assert_eq!(b.used(), 45);
        m_busy.report(120);
        assert!(busy.asked());
    }

    #[test]
    fn leaving_takes_back_what_the_member_was_counted_for() {
        let (b, [(_, mx), (_, my)]) = two_members(1000);
        mx.report(300);
        my.report(200);
        drop(mx);
        assert_eq!(b.used(), 200);
        assert_eq!(b.members.lock().unwrap().len(), 1);
        drop(my);
        assert_eq!(b.used(), 0);
    }
}
