//! Test helper for `tests/crash.rs`: opens (or creates) a table in `argv[1]` and writes batches
//! `a-N`, `b-N`, `c-N` = `N` from `argv[2]` on, printing `ack N` once each batch is acknowledged. Every 40th
//! batch flushes and every 150th compacts, so kills land in those too. Runs until killed.

use std::io::Write;

use base::SecretBytes;
use storage::{fs, Engine, Options, TableKeyProvider, WriteBatch};

struct Fixed;

impl TableKeyProvider for Fixed {
    fn unwrap_table_key(&self, _: &[u8]) -> Result<SecretBytes, String> {
        Ok(SecretBytes::new(vec![5u8; 32]))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).ok_or("usage: storage-crash-writer DIR START")?);
    let mut n: u64 = args.get(2).ok_or("usage: storage-crash-writer DIR START")?.parse()?;
    let options = Options {
        memtable_bytes: 16 * 1024,
        ..Options::default()
    };
    let engine = if dir.join("KEYS").exists() {
        Engine::open(&dir, fs::local(), &Fixed, options)?
    } else {
        Engine::create(
            &dir,
            fs::local(),
            b"blob".to_vec(),
            &SecretBytes::new(vec![5u8; 32]),
            options,
        )?
    };
    let s = engine.create_structure("t")?;
    let mut out = std::io::stdout();
    loop {
        let mut b = WriteBatch::new();
        let v = n.to_string();
        for p in ["a", "b", "c"] {
            b.put(s, format!("{p}-{n:08}").as_bytes(), v.as_bytes());
        }
        engine.write(b)?;
        writeln!(out, "ack {n}")?;
        out.flush()?;
        if n.is_multiple_of(40) {
            engine.flush()?;
        }
        if n.is_multiple_of(150) {
            engine.compact()?;
        }
        n += 1;
    }
}
