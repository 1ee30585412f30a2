//! A file layer that fails on command: failed fsyncs and writes (a full disk) are errors, poison the log,
//! and lose nothing that was acknowledged.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base::SecretBytes;
use storage::fs::FileSystem;
use storage::{Engine, Options, Range, StorageError, TableKeyProvider, WriteBatch};
use support::{Hook, HookedFs, Op, Verdict};

#[derive(Default)]
struct Faults {
    fail_sync: AtomicBool,
    fail_write: AtomicBool,
}

fn injected(what: &str) -> StorageError {
    StorageError::Io {
        path: what.into(),
        source: std::io::Error::other(format!("injected {what} failure")),
    }
}

impl Hook for Faults {
    fn before(&self, op: Op) -> Verdict {
        match op {
            // A full disk may take part of the write before it fails.
            Op::Append if self.fail_write.load(Ordering::SeqCst) => Verdict::Tear(injected("write")),
            Op::Sync if self.fail_sync.load(Ordering::SeqCst) => Verdict::Fail(injected("fsync")),
            _ => Verdict::Go,
        }
    }
}

struct Fixed;

impl TableKeyProvider for Fixed {
    fn unwrap_table_key(&self, _: &[u8]) -> Result<SecretBytes, String> {
        Ok(SecretBytes::new(vec![3u8; 32]))
    }
}

fn put(e: &Engine, s: u32, k: &str) -> storage::Result<u64> {
    let mut b = WriteBatch::new();
    b.put(s, k.as_bytes(), b"v");
    e.write(b)
}

#[test]
fn a_failed_fsync_or_write_is_an_error_poisons_the_log_and_loses_nothing_acknowledged() {
    for fault in ["fsync", "write"] {
        let dir = tempfile::tempdir().unwrap();
        let faults = Arc::new(Faults::default());
        let fs: Arc<dyn FileSystem> = Arc::new(HookedFs(faults.clone()));
        let e = Engine::create(
            dir.path(),
            fs,
            b"b".to_vec(),
            &SecretBytes::new(vec![3u8; 32]),
            Options::default(),
        )
        .unwrap();
        let s = e.create_structure("t").unwrap();
        for i in 0..10 {
            put(&e, s, &format!("ok{i}")).unwrap();
        }
        match fault {
            "fsync" => faults.fail_sync.store(true, Ordering::SeqCst),
            _ => faults.fail_write.store(true, Ordering::SeqCst),
        }
        assert!(matches!(put(&e, s, "failed"), Err(StorageError::Io { .. })), "{fault}");
        faults.fail_sync.store(false, Ordering::SeqCst);
        faults.fail_write.store(false, Ordering::SeqCst);
        // Nothing after a failure is acknowledged until the engine is reopened.
        assert!(matches!(put(&e, s, "after"), Err(StorageError::Poisoned(_))), "{fault}");
        assert_eq!(
            e.get(s, b"failed", None).unwrap(),
            None,
            "an unacknowledged write is not visible"
        );
        drop(e);

        let e = Engine::open(dir.path(), storage::fs::local(), &Fixed, Options::default()).unwrap();
        let keys: Vec<Vec<u8>> = e
            .range(s, &Range::all(), None)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        for i in 0..10 {
            assert!(
                keys.contains(&format!("ok{i}").into_bytes()),
                "{fault}: acknowledged ok{i} lost"
            );
        }
        assert!(!keys.contains(&b"after".to_vec()));
        put(&e, s, "reopened").unwrap();
    }
}

/// Lets `allowed` fsyncs through, then fails every one after.
struct SyncsThenFail {
    allowed: std::sync::atomic::AtomicI64,
}

impl Hook for SyncsThenFail {
    fn before(&self, op: Op) -> Verdict {
        match op {
            Op::Sync if self.allowed.fetch_sub(1, Ordering::SeqCst) <= 0 => Verdict::Fail(injected("fsync")),
            _ => Verdict::Go,
        }
    }
}

/// A compaction that fails after writing some of its outputs leaves none of their blocks in the cache: its
/// outputs start cached where its inputs were (every block here), but files that were never installed are
/// never read, and their plaintext should not wait there for the LRU.
#[test]
fn a_failed_compaction_leaves_no_blocks_of_its_outputs_cached() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Arc::new(SyncsThenFail {
        allowed: std::sync::atomic::AtomicI64::new(i64::MAX),
    });
    let fs: Arc<dyn FileSystem> = Arc::new(HookedFs(hook.clone()));
    let options = Options {
        memtable_bytes: 1024 * 1024,
        block_cache_bytes: 16 * 1024 * 1024,
        target_file_bytes: 64 * 1024,
        background: false,
        ..Options::default()
    };
    let e = Engine::create(dir.path(), fs, b"b".to_vec(), &SecretBytes::new(vec![3u8; 32]), options).unwrap();
    let s = e.create_structure("t").unwrap();
    let value = |i: u32| format!("value-{i}-{}", "x".repeat(200)).into_bytes();
    let write = |keys: std::ops::Range<u32>| {
        for i in keys {
            let mut b = WriteBatch::new();
            b.put(s, &i.to_be_bytes(), &value(i));
            e.write(b).unwrap();
        }
        e.flush().unwrap();
    };
    write(0..4000);
    e.compact().unwrap();
    for i in 0..4000u32 {
        assert_eq!(e.get(s, &i.to_be_bytes(), None).unwrap(), Some(value(i)));
    }
    write(4000..4010);
    let before = e.cache_stats().0;
    // Two fsyncs go through (the compaction's first, then the first output's); the second output's fails.
    hook.allowed.store(2, Ordering::SeqCst);
    assert!(e.compact().is_err(), "the compaction did not fail");
    let after = e.cache_stats().0;
    // The first output took the place of the input blocks it passed; those blocks left the cache as it
    // went, and so must the output's own.
    assert!(
        after + 32 * 1024 <= before,
        "{after} bytes cached after the failed compaction, {before} before: the first output's blocks stayed"
    );
}
