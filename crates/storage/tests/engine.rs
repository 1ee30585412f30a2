//! The engine against a model, on disk: reads, snapshots, flushes, compactions, reopens, tampering,
//! plaintext, key switches and torn tails.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use base::SecretBytes;
use storage::{fs, Engine, Options, Range, StorageError, TableKeyProvider, WriteBatch};

/// Hands out a fixed table key for a fixed blob, as KMS would.
struct Kms(BTreeMap<Vec<u8>, SecretBytes>);

impl TableKeyProvider for Kms {
    fn unwrap_table_key(&self, blob: &[u8]) -> Result<SecretBytes, String> {
        self.0.get(blob).cloned().ok_or_else(|| "no such table key".to_owned())
    }
}

fn kms() -> Kms {
    Kms([
        (b"blob-1".to_vec(), SecretBytes::new(vec![1u8; 32])),
        (b"blob-2".to_vec(), SecretBytes::new(vec![2u8; 32])),
    ]
    .into())
}

/// Tiny memtables and files, so a short test goes through many flushes and every level; maintenance on the
/// writing thread, so a failure replays exactly.
fn small() -> Options {
    Options {
        memtable_bytes: 4 * 1024,
        target_file_bytes: 8 * 1024,
        level1_bytes: 32 * 1024,
        background: false,
        ..Options::default()
    }
}

/// As `small`, with flushes and compactions on the background thread, racing the test's reads and writes.
fn small_background() -> Options {
    Options {
        background: true,
        ..small()
    }
}

fn create_with(dir: &Path, options: Options) -> Engine {
    Engine::create(
        dir,
        fs::local(),
        b"blob-1".to_vec(),
        &SecretBytes::new(vec![1u8; 32]),
        options,
    )
    .unwrap()
}

fn create(dir: &Path) -> Engine {
    create_with(dir, small())
}

fn open(dir: &Path) -> Engine {
    Engine::open(dir, fs::local(), &kms(), small()).unwrap()
}

/// xorshift: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Model = BTreeMap<(u32, Vec<u8>), Vec<u8>>;

fn key(r: &mut Rng) -> Vec<u8> {
    format!("k{:03}", r.below(200)).into_bytes()
}

fn model_range(m: &Model, s: u32, lo: &[u8], hi: &[u8], reverse: bool, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let it = m
        .range((s, lo.to_vec())..(s, hi.to_vec()))
        .map(|((_, k), v)| (k.clone(), v.clone()));
    if reverse {
        it.rev().take(limit).collect()
    } else {
        it.take(limit).collect()
    }
}

fn check(e: &Engine, m: &Model, r: &mut Rng, snapshot: Option<&storage::Snapshot>) {
    for s in [1u32, 2] {
        for _ in 0..20 {
            let k = key(r);
            // A read before a write reads the same, it only leaves the row cache as it was.
            let got = match snapshot {
                None if r.below(2) == 1 => e.get_for_update(s, &k),
                _ => e.get(s, &k, snapshot),
            };
            assert_eq!(
                got.unwrap(),
                m.get(&(s, k.clone())).cloned(),
                "get {s} {:?}",
                String::from_utf8_lossy(&k)
            );
        }
        let (a, b) = (key(r), key(r));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let reverse = r.below(2) == 1;
        let limit = 1 + r.below(30) as usize;
        let got = e
            .range(
                s,
                &Range {
                    start: Bound::Included(&lo),
                    end: Bound::Excluded(&hi),
                    reverse,
                    limit,
                },
                snapshot,
            )
            .unwrap();
        assert_eq!(
            got,
            model_range(m, s, &lo, &hi, reverse, limit),
            "range {s} {lo:?}..{hi:?} rev={reverse} limit={limit}"
        );
        let all = e.range(s, &Range::all(), snapshot).unwrap();
        assert_eq!(all, model_range(m, s, b"", b"\xff", false, usize::MAX));
    }
}

#[test]
fn agrees_with_a_model() {
    model_run(small());
}

/// Keys whose first bytes are all alike: a deeper level's tables then share the prefix of their last keys,
/// and a point read must choose among them by the keys themselves.
#[test]
fn point_reads_find_keys_in_tables_whose_last_keys_share_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let e = create_with(dir.path(), small());
    let s = e.create_structure("base").unwrap();
    let key = |i: u32| format!("same{i:05}").into_bytes();
    for chunk in (0..2000u32).collect::<Vec<_>>().chunks(50) {
        let mut b = WriteBatch::new();
        for i in chunk {
            b.put(s, &key(*i), format!("value-{i}-{}", "x".repeat(60)).as_bytes());
        }
        e.write(b).unwrap();
    }
    e.compact().unwrap();
    let deeper: usize = e.level_counts()[1..].iter().sum();
    assert!(
        deeper > 4,
        "the keys should span several tables of a deeper level: {:?}",
        e.level_counts()
    );
    for i in 0..2000u32 {
        let got = e.get(s, &key(i), None).unwrap();
        assert_eq!(
            got.as_deref(),
            Some(format!("value-{i}-{}", "x".repeat(60)).as_bytes()),
            "key {i}"
        );
    }
    assert_eq!(e.get(s, b"same99999", None).unwrap(), None);
}

#[test]
fn agrees_with_a_model_while_maintenance_runs_in_the_background() {
    model_run(small_background());
}

#[test]
fn agrees_with_a_model_with_a_row_cache() {
    // Small enough that rows are evicted as well as served.
    model_run(Options {
        row_cache_bytes: 32 * 1024,
        ..small()
    });
}

#[test]
fn a_cached_row_answers_only_snapshots_at_or_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = storage::cache::BlockCache::with_rows(1 << 20, 1 << 20);
    let e = create_with(
        dir.path(),
        Options {
            block_cache: Some(cache.clone()),
            ..small()
        },
    );
    let s = e.create_structure("items").unwrap();
    let put = |v: &[u8]| {
        let mut b = WriteBatch::new();
        b.put(s, b"k", v);
        e.write(b).unwrap();
    };
    put(b"old");
    let before = e.snapshot();
    put(b"new");
    // Both versions in one file (the snapshot keeps the old one), then the newest is read into the row cache.
    e.flush().unwrap();
    e.compact().unwrap();
    assert_eq!(e.get(s, b"k", None).unwrap(), Some(b"new".to_vec()));
    assert_eq!(e.get(s, b"k", None).unwrap(), Some(b"new".to_vec()));
    assert_eq!(e.get(s, b"k", Some(&before)).unwrap(), Some(b"old".to_vec()));
    let (_, hits, _) = cache.row_stats();
    assert!(
        hits >= 2,
        "the second read and the old snapshot's read found the row ({hits} hits)"
    );
    // A read for an update finds the row but caches none of its own.
    let (held, _, _) = cache.row_stats();
    assert_eq!(e.get_for_update(s, b"k").unwrap(), Some(b"new".to_vec()));
    assert_eq!(e.get_for_update(s, b"absent").unwrap(), None);
    let (held_after, hits_after, _) = cache.row_stats();
    assert_eq!(held_after, held, "nothing new was cached");
    assert_eq!(
        hits_after,
        hits + 1,
        "the update's read was answered from the row cache"
    );
    // A newer file's tombstone wins over the row cached for the older file.
    let mut b = WriteBatch::new();
    b.delete(s, b"k");
    e.write(b).unwrap();
    e.flush().unwrap();
    assert_eq!(e.get(s, b"k", None).unwrap(), None);
    assert_eq!(e.get(s, b"k", Some(&before)).unwrap(), Some(b"old".to_vec()));
}

fn model_run(options: Options) {
    for seed in [1u64, 7, 42] {
        let dir = tempfile::tempdir().unwrap();
        let mut e = create_with(dir.path(), options.clone());
        assert_eq!(e.create_structure("base").unwrap(), 1);
        assert_eq!(e.create_structure("gsi").unwrap(), 2);
        let mut m = Model::new();
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut held: Vec<(storage::Snapshot, Model)> = Vec::new();
        for step in 0..1500 {
            match r.below(100) {
                0..=54 => {
                    let mut b = WriteBatch::new();
                    for _ in 0..1 + r.below(4) {
                        let s = 1 + r.below(2) as u32;
                        let k = key(&mut r);
                        if r.below(5) == 0 {
                            b.delete(s, &k);
                            m.remove(&(s, k));
                        } else {
                            let v = format!("v{step}-{}", r.next()).into_bytes();
                            b.put(s, &k, &v);
                            m.insert((s, k), v);
                        }
                    }
                    e.write(b).unwrap();
                }
                55..=84 => check(&e, &m, &mut r, None),
                85..=88 => held.push((e.snapshot(), m.clone())),
                89..=91 => {
                    if let Some((snap, sm)) = held.pop() {
                        check(&e, &sm, &mut r, Some(&snap));
                    }
                }
                92..=94 => e.flush().unwrap(),
                95..=97 => e.compact().unwrap(),
                _ => {
                    held.clear();
                    drop(e);
                    e = Engine::open(dir.path(), fs::local(), &kms(), options.clone()).unwrap();
                    assert_eq!(e.structure("gsi"), Some(2));
                }
            }
        }
        for (snap, sm) in &held {
            check(&e, sm, &mut r, Some(snap));
        }
        check(&e, &m, &mut r, None);
    }
}

fn files_contain(dir: &Path, marker: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for f in std::fs::read_dir(dir).unwrap().flatten() {
        let bytes = std::fs::read(f.path()).unwrap();
        if bytes.windows(marker.len()).any(|w| w == marker) {
            hits.push(f.file_name().to_string_lossy().into_owned());
        }
    }
    hits
}

#[test]
fn no_plaintext_in_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = create(dir.path());
    let s = e.create_structure("MARKER-STRUCTURE").unwrap();
    for i in 0..200 {
        let mut b = WriteBatch::new();
        b.put(
            s,
            format!("MARKER-KEY-{i:04}").as_bytes(),
            format!("MARKER-VALUE-{i:04}").as_bytes(),
        );
        e.write(b).unwrap();
    }
    // In the WAL only, then flushed, then compacted.
    for stage in ["wal", "flushed", "compacted"] {
        for m in [&b"MARKER-KEY"[..], b"MARKER-VALUE", b"MARKER-STRUCTURE"] {
            assert!(
                files_contain(dir.path(), m).is_empty(),
                "{} after {stage}",
                String::from_utf8_lossy(m)
            );
        }
        match stage {
            "wal" => e.flush().unwrap(),
            "flushed" => {
                e.flush().unwrap();
                e.compact().unwrap()
            }
            _ => {}
        }
    }
    assert_eq!(
        e.get(s, b"MARKER-KEY-0007", None).unwrap(),
        Some(b"MARKER-VALUE-0007".to_vec())
    );
}

#[test]
fn a_flipped_byte_anywhere_gives_an_error_or_the_right_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = create(dir.path());
        let s = e.create_structure("t").unwrap();
        for i in 0..60 {
            let mut b = WriteBatch::new();
            b.put(s, format!("key{i:03}").as_bytes(), format!("value{i:03}").as_bytes());
            e.write(b).unwrap();
            if i == 30 {
                e.flush().unwrap();
            }
        }
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|f| f.path())
        .collect();
    for path in names {
        let original = std::fs::read(&path).unwrap();
        let step = (original.len() / 40).max(1);
        for i in (0..original.len()).step_by(step) {
            let mut bad = original.clone();
            bad[i] ^= 0x20;
            std::fs::write(&path, &bad).unwrap();
            if let Ok(e) = Engine::open(dir.path(), fs::local(), &kms(), small()) {
                let s = e.structure("t").unwrap_or(1);
                for k in 0..60 {
                    // An error is allowed (the damage is named); other data never is.
                    if let Ok(Some(v)) = e.get(s, format!("key{k:03}").as_bytes(), None) {
                        assert_eq!(v, format!("value{k:03}").into_bytes(), "{path:?} byte {i}");
                    }
                }
                drop(e);
            }
            // Reopening may have rewritten files (a new WAL segment, a cut tail): start again from a copy.
            std::fs::write(&path, &original).unwrap();
        }
    }
}

#[test]
fn key_switch_under_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let e = Arc::new(create(dir.path()));
    let s = e.create_structure("t").unwrap();
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let e = e.clone();
            std::thread::spawn(move || {
                for i in 0..300 {
                    let mut b = WriteBatch::new();
                    b.put(s, format!("t{t}-{i:04}").as_bytes(), b"v");
                    e.write(b).unwrap();
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(5));
    e.rewrap(b"blob-2".to_vec(), &SecretBytes::new(vec![2u8; 32])).unwrap();
    for w in writers {
        w.join().unwrap();
    }
    e.flush().unwrap();
    drop(Arc::try_unwrap(e).ok().unwrap());
    // Only the new table key opens the table now; every write is there.
    let only_old = Kms([(b"blob-2".to_vec(), SecretBytes::new(vec![1u8; 32]))].into());
    assert!(matches!(
        Engine::open(dir.path(), fs::local(), &only_old, small()),
        Err(StorageError::WrongTableKey)
    ));
    let e = open(dir.path());
    assert_eq!(e.table_key_blob(), b"blob-2");
    assert_eq!(e.range(s, &Range::all(), None).unwrap().len(), 1200);
}

#[test]
fn concurrent_writers_see_their_writes_and_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let e = Arc::new(
        Engine::create(
            dir.path(),
            fs::local(),
            b"blob-1".to_vec(),
            &SecretBytes::new(vec![1u8; 32]),
            Options::default(),
        )
        .unwrap(),
    );
    let s = e.create_structure("t").unwrap();
    let started = std::time::Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let e = e.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let k = format!("t{t}-{i}");
                    let mut b = WriteBatch::new();
                    b.put(s, k.as_bytes(), b"x");
                    e.write(b).unwrap();
                    assert_eq!(
                        e.get(s, k.as_bytes(), None).unwrap(),
                        Some(b"x".to_vec()),
                        "read your write"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(e.range(s, &Range::all(), None).unwrap().len(), 800);
    let _ = started;
}

#[test]
fn torn_tails_are_cut_and_middle_damage_is_named() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = create(dir.path());
        let s = e.create_structure("t").unwrap();
        for i in 0..5 {
            let mut b = WriteBatch::new();
            b.put(s, format!("k{i}").as_bytes(), b"v");
            e.write(b).unwrap();
        }
    }
    let wal = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|f| f.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let good = std::fs::read(&wal).unwrap();
    // Where the records end: the segment is reserved past them, and the rest reads as zeros.
    let mut end = storage::seal::HEADER_LEN;
    loop {
        let len = u32::from_be_bytes(good[end..end + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        end += 4 + len;
    }
    assert!(good[end..].iter().all(|b| *b == 0), "the reserved rest is unwritten");
    // A half-written record where the next one would go, the unwritten rest after it: cut, everything
    // before kept.
    let mut torn = good.clone();
    torn[end..end + 7].copy_from_slice(&[0, 0, 0, 50, 1, 2, 3]);
    std::fs::write(&wal, &torn).unwrap();
    let e = open(dir.path());
    assert_eq!(e.range(1, &Range::all(), None).unwrap().len(), 5);
    drop(e);
    // The same at the very end of a segment that filled its reservation.
    let mut torn = good[..end].to_vec();
    torn.extend_from_slice(&[0, 0, 0, 50, 1, 2, 3]);
    std::fs::write(&wal, &torn).unwrap();
    let e = open(dir.path());
    assert_eq!(e.range(1, &Range::all(), None).unwrap().len(), 5);
    drop(e);
    // A zeroed length with records after it is damage, not the end of the log.
    let mut zeroed = good.clone();
    zeroed[storage::seal::HEADER_LEN..storage::seal::HEADER_LEN + 4].fill(0);
    std::fs::write(&wal, &zeroed).unwrap();
    assert!(matches!(
        Engine::open(dir.path(), fs::local(), &kms(), small()),
        Err(StorageError::Corruption { .. })
    ));
    // Damage to an earlier record refuses to open rather than losing acknowledged writes silently.
    let mut bad = good.clone();
    bad[40] ^= 1;
    std::fs::write(&wal, &bad).unwrap();
    assert!(matches!(
        Engine::open(dir.path(), fs::local(), &kms(), small()),
        Err(StorageError::Corruption { .. })
    ));
}

fn value_of(i: u32) -> Vec<u8> {
    format!("value-{i}-{}", "x".repeat(200)).into_bytes()
}

/// Writes many keys while the background threads flush and compact: level 0 never passes the stop
/// limit, data moves down into deeper levels, and every key reads back (also after a reopen).
#[test]
fn leveled_compaction_keeps_level_zero_bounded_and_data_readable() {
    let dir = tempfile::tempdir().unwrap();
    let options = small_background();
    let e = create_with(dir.path(), options.clone());
    let s = e.create_structure("items").unwrap();
    let n = 6000u32;
    let mut max_l0 = 0;
    for i in 0..n {
        let mut b = WriteBatch::new();
        // Keys in a scattered order (7919 is prime to n), so every level-0 table overlaps the deeper levels.
        let k = ((i as u64 * 7919 % n as u64) as u32).to_be_bytes();
        b.put(s, &k, &value_of(i));
        e.write(b).unwrap();
        max_l0 = max_l0.max(e.level_counts()[0]);
    }
    assert!(max_l0 <= options.l0_stop_writes, "level 0 reached {max_l0} tables");
    e.flush().unwrap();
    // Compaction runs beside flushes and may still be working through level 0.
    e.settle().unwrap();
    assert!(
        e.level_counts()[0] < options.l0_compaction_trigger,
        "{:?}",
        e.level_counts()
    );
    let deep: usize = e.level_counts()[1..].iter().sum();
    assert!(deep > 1, "data reached the deeper levels: {:?}", e.level_counts());
    assert!(
        e.level_counts()[2..].iter().sum::<usize>() > 0,
        "more than one level below 0: {:?}",
        e.level_counts()
    );
    let check = |e: &Engine| {
        for i in 0..n {
            let k = ((i as u64 * 7919 % n as u64) as u32).to_be_bytes();
            assert_eq!(e.get(s, &k, None).unwrap(), Some(value_of(i)), "key {i}");
        }
        assert_eq!(e.range(s, &Range::all(), None).unwrap().len(), n as usize);
    };
    check(&e);
    drop(e);
    check(&Engine::open(dir.path(), fs::local(), &kms(), options).unwrap());
}

/// Two engines on one cache number their files alike (both start at 1): each still reads only its own
/// blocks, the pair stays within the one budget, and a closed engine's blocks leave the cache.
#[test]
fn engines_sharing_a_block_cache_read_only_their_own_blocks() {
    let budget = 64 * 1024;
    let shared = storage::cache::BlockCache::new(budget);
    let options = Options {
        block_cache: Some(shared.clone()),
        ..small()
    };
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (create_with(da.path(), options.clone()), create_with(db.path(), options));
    let (sa, sb) = (
        a.create_structure("items").unwrap(),
        b.create_structure("items").unwrap(),
    );
    let n = 600u32;
    for i in 0..n {
        for (e, s, tag) in [(&a, sa, b'a'), (&b, sb, b'b')] {
            let mut w = WriteBatch::new();
            w.put(s, &i.to_be_bytes(), &[vec![tag; 8], value_of(i)].concat());
            e.write(w).unwrap();
        }
    }
    a.flush().unwrap();
    b.flush().unwrap();
    for _ in 0..2 {
        for i in 0..n {
            for (e, s, tag) in [(&a, sa, b'a'), (&b, sb, b'b')] {
                let got = e.get(s, &i.to_be_bytes(), None).unwrap().unwrap();
                assert_eq!(got[..8], [tag; 8], "key {i} read from the other engine's block");
            }
        }
        let (bytes, _, _) = shared.stats();
        assert!(bytes > 0 && bytes <= budget, "{bytes} bytes held");
        assert_eq!(a.cache_stats(), shared.stats(), "an engine reports the cache it shares");
    }
    let held = shared.stats().0;
    drop(a);
    assert!(shared.stats().0 < held, "the closed engine's blocks stay cached");
    assert_eq!(b.get(sb, &0u32.to_be_bytes(), None).unwrap().unwrap()[..8], [b'b'; 8]);
}

/// Eight engines under one write-buffer bound of 64 KiB, with memtables of 1 MiB each: written one after
/// the other and then left idle, they hold about the bound between them, not 8 x 64 KiB. The idle ones
/// flush when a later one's writes pass the bound, and everything written reads back.
#[test]
fn engines_under_one_write_buffer_bound_flush_the_largest_memtable() {
    let bound = storage::WriteBuffers::new(64 * 1024);
    let options = Options {
        memtable_bytes: 1024 * 1024,
        background: true,
        write_buffers: Some(bound.clone()),
        ..Options::default()
    };
    let dirs: Vec<_> = (0..8).map(|_| tempfile::tempdir().unwrap()).collect();
    let engines: Vec<Engine> = dirs.iter().map(|d| create_with(d.path(), options.clone())).collect();
    let structures: Vec<u32> = engines.iter().map(|e| e.create_structure("items").unwrap()).collect();
    for (e, s) in engines.iter().zip(&structures) {
        for i in 0..64u32 {
            let mut w = WriteBatch::new();
            w.put(*s, &i.to_be_bytes(), &value_of(i).repeat(8));
            e.write(w).unwrap();
        }
    }
    // The last flush asked for finishes in the background.
    let held = || engines.iter().map(Engine::memtable_bytes).sum::<usize>();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while held() > 2 * bound.limit() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let unbounded: usize = 8 * 64 * value_of(0).len() * 8;
    assert!(
        held() <= 2 * bound.limit(),
        "the engines hold {} bytes in memtables under a bound of {} (unbounded: about {unbounded})",
        held(),
        bound.limit()
    );
    // Engines report before each write, so the count lags by at most the last write of each.
    let lag = held().saturating_sub(bound.used());
    assert!(
        lag <= 8 * 2 * value_of(0).len() * 8,
        "the bound counts {} of {} bytes",
        bound.used(),
        held()
    );
    for (e, s) in engines.iter().zip(&structures) {
        for i in 0..64u32 {
            assert_eq!(e.get(*s, &i.to_be_bytes(), None).unwrap(), Some(value_of(i).repeat(8)));
        }
    }
    drop(engines);
    assert_eq!(bound.used(), 0, "closed engines are no longer counted");
}

/// Dropping a structure removes its entries (and, after compaction, the files holding them), leaves the
/// others alone, and a structure created later starts empty.
#[test]
fn dropped_structures_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let e = create(dir.path());
    let a = e.create_structure("a").unwrap();
    let b = e.create_structure("b").unwrap();
    for i in 0..300u32 {
        let mut w = WriteBatch::new();
        w.put(a, &i.to_be_bytes(), b"MARKER-DROPPED-VALUE")
            .put(b, &i.to_be_bytes(), b"kept");
        e.write(w).unwrap();
    }
    e.flush().unwrap();
    e.drop_structure("b").unwrap_or_else(|err| panic!("{err}"));
    assert!(matches!(e.drop_structure("b"), Err(StorageError::UnknownStructure(_))));
    e.drop_structure("a").unwrap();
    assert_eq!(e.structure("a"), None);
    e.compact().unwrap();
    assert!(files_contain(dir.path(), b"MARKER-DROPPED-VALUE").is_empty());
    let again = e.create_structure("c").unwrap();
    assert!(e.range(again, &Range::all(), None).unwrap().is_empty());
    assert!(e.get(again, &1u32.to_be_bytes(), None).unwrap().is_none());
}

/// What `inspect keys` shows: every live file, its data key (one a file, each in the registry) and the
/// structures a sorted table holds, named from the manifest.
#[test]
fn files_report_each_data_key_and_the_structures_it_seals() {
    let dir = tempfile::tempdir().unwrap();
    let e = create(dir.path());
    let a = e.create_structure("base").unwrap();
    let b = e.create_structure("index/ByName").unwrap();
    let c = e.create_structure("stream/1").unwrap();
    let mut w = WriteBatch::new();
    w.put(a, b"k", b"v").put(c, b"k", b"v");
    e.write(w).unwrap();
    e.flush().unwrap();
    let mut w = WriteBatch::new();
    w.put(b, b"k", b"v");
    e.write(w).unwrap();
    e.flush().unwrap();
    e.drop_structure("stream/1").unwrap();
    let files = e.files().unwrap();
    let sorted: Vec<Vec<String>> = files
        .iter()
        .filter_map(|f| match &f.role {
            storage::FileRole::Sorted { structures, .. } => Some(structures.clone()),
            _ => None,
        })
        .collect();
    assert!(sorted.contains(&vec!["base".to_owned(), format!("#{c}")]), "{files:?}");
    assert!(sorted.contains(&vec!["index/ByName".to_owned()]), "{files:?}");
    assert_eq!(
        files.iter().filter(|f| f.role == storage::FileRole::Manifest).count(),
        1
    );
    assert!(files.iter().any(|f| f.role == storage::FileRole::Log), "{files:?}");
    let (_, registered) = Engine::registry_in(fs::local().as_ref(), dir.path()).unwrap();
    let mut keys: Vec<u64> = files.iter().map(|f| f.data_key).collect();
    keys.sort_unstable();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "a data key seals one file: {files:?}");
    assert!(
        keys.iter().all(|k| registered.contains(k)),
        "{keys:?} not all in {registered:?}"
    );
    for f in &files {
        assert!(
            dir.path().join(&f.name).exists(),
            "{} is not a file of the table",
            f.name
        );
    }
}

/// A checkpoint taken while writes go on opens as its own table, with exactly the writes made before it.
#[test]
fn checkpoints_are_consistent_copies_that_open_on_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let e = create_with(dir.path(), small_background());
    let s = e.create_structure("items").unwrap();
    for i in 0..500u32 {
        let mut w = WriteBatch::new();
        w.put(s, &i.to_be_bytes(), &value_of(i));
        e.write(w).unwrap();
    }
    let copy = dir.path().join("backup");
    let writer = std::thread::scope(|scope| {
        let h = scope.spawn(|| {
            for i in 500..1500u32 {
                let mut w = WriteBatch::new();
                w.put(s, &i.to_be_bytes(), &value_of(i));
                e.write(w).unwrap();
            }
        });
        let seq = e.checkpoint(&copy).unwrap();
        h.join().unwrap();
        seq
    });
    assert!(e.checkpoint(&copy).is_err(), "a checkpoint never overwrites a table");
    let c = Engine::open(&copy, fs::local(), &kms(), small()).unwrap();
    let got = c.range(s, &Range::all(), None).unwrap();
    // Everything before the checkpoint, in order, and nothing half-way: a prefix of the writes.
    assert!(got.len() >= 500 && got.len() as u64 <= writer, "{} entries", got.len());
    for (i, (k, v)) in got.iter().enumerate() {
        assert_eq!((k.as_slice(), v), (&(i as u32).to_be_bytes()[..], &value_of(i as u32)));
    }
    // The copy is a table of its own: writing to it leaves the original alone.
    let mut w = WriteBatch::new();
    w.put(s, b"only-in-copy", b"v");
    c.write(w).unwrap();
    assert!(e.get(s, b"only-in-copy", None).unwrap().is_none());
}

/// A compaction's output starts in the cache where its inputs were cached, and only there: reads of a key
/// range that was hot before the compaction still hit after it, though every block moved to a new file;
/// a range nobody read stays out of the cache. Outputs are small here, so the compaction writes several
/// and drops the inputs' blocks as it goes (hot ranges in the first outputs and in later ones).
#[test]
fn compaction_output_is_cached_where_its_inputs_were() {
    let options = Options {
        memtable_bytes: 1024 * 1024,
        target_file_bytes: 64 * 1024,
        block_cache_bytes: 16 * 1024 * 1024,
        background: false,
        ..Options::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let e = create_with(dir.path(), options);
    let s = e.create_structure("items").unwrap();
    let put_all = |keys: std::ops::Range<u32>| {
        for i in keys {
            let mut w = WriteBatch::new();
            w.put(s, &i.to_be_bytes(), &value_of(i));
            e.write(w).unwrap();
        }
        e.flush().unwrap();
    };
    let read = |keys: std::ops::Range<u32>| {
        for i in keys {
            assert_eq!(e.get(s, &i.to_be_bytes(), None).unwrap(), Some(value_of(i)), "key {i}");
        }
    };
    put_all(0..4000);
    e.compact().unwrap();
    assert_eq!(e.cache_stats().0, 0, "a compaction of blocks nobody read cached some");

    read(0..200);
    read(2000..2200);
    let (held, _, misses) = e.cache_stats();
    assert!(held > 0 && misses > 0, "the first reads loaded no blocks");
    put_all(4000..4100);
    e.compact().unwrap();
    assert!(
        e.level_counts().iter().sum::<usize>() > 2,
        "{:?}: one output",
        e.level_counts()
    );
    read(0..200);
    read(2000..2200);
    let (after_held, _, after) = e.cache_stats();
    assert_eq!(after, misses, "a hot range missed after the compaction moved it");
    assert!(after_held <= held * 2, "{after_held} bytes cached after, {held} before");
    read(3000..3001);
    assert_eq!(
        e.cache_stats().2,
        misses + 1,
        "a cold key's block was cached by the compaction"
    );
}

/// Whether WAL segment `name` in `dir` holds records (anything but zeros after its header); a segment
/// deleted meanwhile holds none.
fn holds_records(dir: &Path, name: &str) -> bool {
    std::fs::read(dir.join(name)).is_ok_and(|raw| raw.iter().skip(storage::seal::HEADER_LEN).any(|b| *b != 0))
}

/// Bytes of disk a file takes (a hole takes none).
fn allocated(dir: &Path, name: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir.join(name)).map_or(0, |m| m.blocks() * 512)
}

fn wal_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".wal"))
        .collect()
}

#[test]
fn freezes_switch_to_wal_segments_prepared_ahead_with_written_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        memtable_bytes: 64 * 1024,
        ..small_background()
    };
    let e = create_with(dir.path(), options.clone());
    let s = e.create_structure("t").unwrap();
    let mut written = 0u32;
    // Values that do not compress, so a segment's records take about what its memtable holds.
    let noise = |i: u32| {
        let mut r = Rng(u64::from(i) + 1);
        (0..25).flat_map(|_| r.next().to_le_bytes()).collect::<Vec<u8>>()
    };
    let mut write_some = |e: &Engine, n: u32| {
        for _ in 0..n {
            let mut b = WriteBatch::new();
            b.put(s, &written.to_be_bytes(), &noise(written));
            e.write(b).unwrap();
            written += 1;
        }
    };
    // Past the first freeze the flush thread prepares the next segment: written zeros, no records. A later
    // freeze switches to it, and the commits after that land in it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut prepared = std::collections::BTreeSet::new();
    'writing: loop {
        write_some(&e, 50);
        for name in wal_names(dir.path()) {
            if holds_records(dir.path(), &name) {
                if prepared.contains(&name) {
                    break 'writing;
                }
            } else if allocated(dir.path(), &name) >= 32 * 1024 {
                prepared.insert(name);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no segment prepared ahead was switched to (prepared: {prepared:?})"
        );
    }
    let total = written;
    drop(e);
    // Whatever was prepared and not yet used, or used and not yet flushed, replays as it should.
    let e = Engine::open(dir.path(), fs::local(), &kms(), options).unwrap();
    let s = e.structure("t").unwrap();
    for i in 0..total {
        assert_eq!(e.get(s, &i.to_be_bytes(), None).unwrap(), Some(noise(i)), "item {i}");
    }
}
