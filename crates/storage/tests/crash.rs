//! SIGKILL a writing process again and again: every acknowledged batch survives whole, no batch is
//! half-applied, and the table always reopens.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use base::SecretBytes;
use storage::{fs, Engine, Options, Range, TableKeyProvider};

struct Fixed;

impl TableKeyProvider for Fixed {
    fn unwrap_table_key(&self, _: &[u8]) -> Result<SecretBytes, String> {
        Ok(SecretBytes::new(vec![5u8; 32]))
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_50_times() {
    let dir = tempfile::tempdir().unwrap();
    let mut next = 0u64;
    let mut acked_total = 0u64;
    for cycle in 0..50u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_storage-crash-writer"))
            .arg(dir.path())
            .arg(next.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let want = 5 + (cycle * 7) % 60;
        let mut last_ack = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("ack ") {
                last_ack = Some(n.parse::<u64>().unwrap());
                if last_ack.unwrap() >= next + want {
                    break;
                }
            }
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(
            !status.success() || last_ack.is_some(),
            "the writer died on its own: {status:?}"
        );
        let last = last_ack.expect("the writer acknowledged something");
        acked_total += last + 1 - next;

        let e = Engine::open(dir.path(), fs::local(), &Fixed, Options::default()).unwrap();
        let s = e.structure("t").unwrap();
        let all: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
            e.range(s, &Range::all(), None).unwrap().into_iter().collect();
        for n in 0..=last {
            for p in ["a", "b", "c"] {
                let got = all.get(format!("{p}-{n:08}").as_bytes());
                assert_eq!(
                    got,
                    Some(&n.to_string().into_bytes()),
                    "cycle {cycle}: acknowledged {p}-{n} lost"
                );
            }
        }
        // Whatever got past the last acknowledgement is whole or absent.
        let after = format!("a-{:08}", last + 1);
        for (k, v) in all.range(after.into_bytes()..b"b".to_vec()) {
            let tail = &k[2..];
            for p in [b"b-", b"c-"] {
                let mut other = p.to_vec();
                other.extend_from_slice(tail);
                assert_eq!(
                    all.get(&other),
                    Some(v),
                    "cycle {cycle}: half-applied batch {}",
                    String::from_utf8_lossy(tail)
                );
            }
        }
        drop(e);
        next = last + 1;
    }
    assert!(acked_total >= 250);
}
