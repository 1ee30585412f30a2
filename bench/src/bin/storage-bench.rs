//! Measures the encrypted storage engine: batched inserts, random point reads and range scans, with 32-byte
//! keys and 1 KiB values. Prints one line per workload.
//!
//! `cargo run --release -p strongroom-bench --bin storage-bench -- [KEYS] [SECONDS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use base::SecretBytes;
use storage::{fs, Engine, Options, Range, WriteBatch};

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

fn engine(dir: &std::path::Path) -> Engine {
    Engine::create(
        dir,
        fs::local(),
        b"bench".to_vec(),
        &SecretBytes::new(vec![7u8; 32]),
        Options::default(),
    )
    .expect("engine")
}

fn insert(batch: usize, writers: usize, total: u64) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Arc::new(engine(dir.path()));
    let s = e.create_structure("t").expect("structure");
    let value = vec![0xA5u8; 1024];
    let per_writer = total / writers as u64;
    let start = Instant::now();
    let threads: Vec<_> = (0..writers as u64)
        .map(|w| {
            let e = e.clone();
            let value = value.clone();
            std::thread::spawn(move || {
                let mut i = 0;
                while i < per_writer {
                    let mut b = WriteBatch::new();
                    for _ in 0..batch {
                        b.put(s, &key(w * per_writer + i), &value);
                        i += 1;
                    }
                    e.write(b).expect("write");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    (per_writer * writers as u64) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keys: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let secs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    println!(
        "# storage engine, {keys} keys of 32 B with 1 KiB values, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (batch, writers, total) in [(1, 1, 5_000), (1, 8, 20_000), (16, 1, 50_000), (256, 1, keys)] {
        println!(
            "insert batch={batch:<4} writers={writers}  {:>10.0} keys/s",
            insert(batch, writers, total)
        );
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let e = Arc::new(engine(dir.path()));
    let s = e.create_structure("t").expect("structure");
    let value = vec![0x5Au8; 1024];
    let mut i = 0;
    while i < keys {
        let mut b = WriteBatch::new();
        for _ in 0..256 {
            b.put(s, &key(i), &value);
            i += 1;
        }
        e.write(b).expect("load");
    }
    e.flush().expect("flush");
    e.compact().expect("compact");
    for threads in [1u64, 2] {
        let start = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let e = e.clone();
                std::thread::spawn(move || {
                    let mut r = Rng(0x1234_5678 + t);
                    let mut n = 0u64;
                    while start.elapsed() < Duration::from_secs(secs) {
                        let k = key(r.next() % keys);
                        assert!(e.get(s, &k, None).expect("get").is_some());
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let n: u64 = handles.into_iter().map(|h| h.join().expect("reader")).sum();
        println!(
            "point reads threads={threads}   {:>10.0} reads/s",
            n as f64 / start.elapsed().as_secs_f64()
        );
    }
    let start = Instant::now();
    let mut r = Rng(99);
    let mut scans = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let from = key(r.next() % keys);
        let got = e
            .range(
                s,
                &Range {
                    start: std::ops::Bound::Included(&from),
                    end: std::ops::Bound::Unbounded,
                    reverse: false,
                    limit: 1000,
                },
                None,
            )
            .expect("range");
        assert!(!got.is_empty());
        scans += 1;
    }
    println!(
        "range scans of 1000 keys  {:>10.0} scans/s",
        scans as f64 / start.elapsed().as_secs_f64()
    );
    let (bytes, hits, misses) = e.cache_stats();
    println!("# block cache: {} KiB held, {hits} hits, {misses} misses", bytes / 1024);
}
