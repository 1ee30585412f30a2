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
