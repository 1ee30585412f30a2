//! Issue 4's storage benchmark: the same workloads on our engine and on fjall 3, 32-byte keys and 1 KiB
//! values, every write durable (fsynced) before it is acknowledged on both.
//!
//! `storage-compare ENGINE KEYS SECONDS`, ENGINE = `ours` or `fjall`. Prints `workload<TAB>ops/s` lines.
//! Built with `--features null-cipher`, `ours` seals nothing: the difference is the cost of encryption.
//! `scripts/bench-storage.sh` runs all three and prints the table for BENCHMARKS.md.

use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, Instant};

use base::SecretBytes;

trait Store: Sync {
    fn write(&self, batch: &[(Vec<u8>, Vec<u8>)]);
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Reads `n` pairs from `start` on; returns how many it read.
    fn scan(&self, start: &[u8], n: usize) -> usize;
    /// Waits until the engine's background flushes and compactions are done.
    fn settle(&self);
    /// The engine's shape, for stderr: what the reads below ran against.
    fn shape(&self) -> String {
        String::new()
    }
}

struct Ours {
    engine: storage::Engine,
    structure: u32,
}

impl Ours {
    fn create(dir: &Path) -> Ours {
        let engine = storage::Engine::create(
            dir,
            storage::fs::local(),
            b"bench".to_vec(),
            &SecretBytes::new(vec![7u8; 32]),
            storage::Options::default(),
        )
        .expect("engine");
        let structure = engine.create_structure("t").expect("structure");
        Ours { engine, structure }
    }
}

impl Store for Ours {
    fn write(&self, batch: &[(Vec<u8>, Vec<u8>)]) {
        let mut b = storage::WriteBatch::new();
        for (k, v) in batch {
            b.put(self.structure, k, v);
        }
        self.engine.write(b).expect("write");
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.engine.get(self.structure, key, None).expect("get")
    }

    fn scan(&self, start: &[u8], n: usize) -> usize {
        let range = storage::Range {
            start: Bound::Included(start),
            end: Bound::Unbounded,
            reverse: false,
            limit: n,
        };
        self.engine.range(self.structure, &range, None).expect("range").len()
    }

    fn settle(&self) {
        self.engine.settle().expect("settle");
    }

    fn shape(&self) -> String {
        let (bytes, hits, misses) = self.engine.cache_stats();
        format!(
            "tables per level {:?}, block cache {} MiB, {hits} hits, {misses} misses",
            self.engine.level_counts(),
            bytes >> 20
        )
    }
}

struct Fjall {
    db: fjall::Database,
    items: fjall::Keyspace,
}

impl Fjall {
    fn create(dir: &Path) -> Fjall {
        let db = fjall::Database::builder(dir)
            .cache_size(64 * 1024 * 1024)
            .open()
            .expect("fjall");
        let items = db.keyspace("t", fjall::KeyspaceCreateOptions::default).expect("keyspace");
        Fjall { db, items }
    }
}

impl Store for Fjall {
    fn write(&self, batch: &[(Vec<u8>, Vec<u8>)]) {
        let mut b = self.db.batch().durability(Some(fjall::PersistMode::SyncData));
        for (k, v) in batch {
            b.insert(&self.items, k.as_slice(), v.as_slice());
        }
        b.commit().expect("commit");
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.items.get(key).expect("get").map(|v| v.to_vec())
    }

    fn scan(&self, start: &[u8], n: usize) -> usize {
        let mut read = 0;
        for kv in self.items.range::<&[u8], _>((Bound::Included(start), Bound::Unbounded)).take(n) {
            let (_k, v) = kv.into_inner().expect("scan");
            std::hint::black_box(v);
            read += 1;
        }
        read
    }

    /// fjall has no call that waits for its background work, so: until nothing is flushing or compacting
    /// and no compaction has finished for two seconds.
    fn settle(&self) {
        let mut quiet_since = Instant::now();
        let mut completed = self.db.compactions_completed();
        while quiet_since.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.db.compactions_completed();
            if now != completed || self.db.outstanding_flushes() > 0 || self.db.active_compactions() > 0 {
                completed = now;
                quiet_since = Instant::now();
            }
        }
    }

    fn shape(&self) -> String {
        format!("{} tables, {} in level 0", self.items.table_count(), self.items.l0_table_count())
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("{:032}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 10_000_000_000_000).into_bytes()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Incompressible values, so neither engine's lz4 makes the data smaller than it would be.
fn value(rng: &mut Rng) -> Vec<u8> {
    (0..128).flat_map(|_| rng.next().to_le_bytes()).collect()
}

/// Inserts batches of `batch` keys for `secs` (or until `limit` keys); returns keys/s.
fn insert(store: &dyn Store, batch: usize, secs: f64, limit: u64, first: u64) -> f64 {
    let mut rng = Rng(0x1234_5678 ^ first);
    let start = Instant::now();
    let mut i = first;
    while i < first + limit && start.elapsed().as_secs_f64() < secs {
        let b: Vec<(Vec<u8>, Vec<u8>)> = (0..batch as u64).map(|j| (key(i + j), value(&mut rng))).collect();
        store.write(&b);
        i += batch as u64;
    }
    (i - first) as f64 / start.elapsed().as_secs_f64()
}

fn reads(store: &dyn Store, keys: u64, threads: u64, secs: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut rng = Rng(0x9E37_79B9 + t);
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        for _ in 0..64 {
                            assert!(store.get(&key(rng.next() % keys)).is_some(), "a loaded key is missing");
                        }
                        n += 64;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("reader")).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

fn scans(store: &dyn Store, keys: u64, secs: u64) -> f64 {
    let mut rng = Rng(77);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs() < secs {
        // Start keys spread over the key space; a scan near the end reads fewer than 1,000.
        store.scan(&key(rng.next() % keys), 1000);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let engine = args.get(1).map(String::as_str).unwrap_or("ours");
    let keys: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let open = |dir: &Path| -> Box<dyn Store> {
        match engine {
            "fjall" => Box::new(Fjall::create(dir)),
            _ => Box::new(Ours::create(dir)),
        }
    };
    // `storage-compare ENGINE KEYS SECONDS load` runs only the 1M-key load, for profiling it.
    let only_load = args.get(4).is_some_and(|a| a == "load");
    for batch in [1usize, 16].into_iter().filter(|_| !only_load) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        println!("insert_batch_{batch}\t{:.0}", insert(store.as_ref(), batch, secs as f64, u64::MAX, 0));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    println!("insert_batch_256\t{:.0}", insert(store.as_ref(), 256, f64::MAX, keys, 0));
    if only_load {
        // What the load wrote so far (WAL, flushes, compactions) over what it loaded: write amplification.
        let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
        let wrote = io.lines().find_map(|l| l.strip_prefix("wchar: ")).and_then(|n| n.parse::<f64>().ok());
        eprintln!("wrote {:.2}x the loaded bytes", wrote.unwrap_or(0.0) / (keys as f64 * 1056.0));
        return;
    }
    // Reads run against a table that has been loaded for a while: its background flushes and compactions
    // are done (with only a pause here, they went on during the reads and took the readers' cores).
    let settling = Instant::now();
    store.settle();
    eprintln!("settled in {:.1}s", settling.elapsed().as_secs_f64());
    eprintln!("before the reads: {}", store.shape());
    println!("point_reads_1_thread\t{:.0}", reads(store.as_ref(), keys, 1, secs));
    println!("point_reads_2_threads\t{:.0}", reads(store.as_ref(), keys, 2, secs));
    println!("range_scans_1000\t{:.1}", scans(store.as_ref(), keys, secs));
    eprintln!("after the reads: {}", store.shape());
}
