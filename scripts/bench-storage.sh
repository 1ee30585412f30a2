#!/usr/bin/env bash
# Issue 4's storage benchmark: our engine with AES-256-GCM, our engine with the bench-only null cipher, and
# fjall 3, on the same workloads (32-byte keys, 1 KiB incompressible values, every write fsynced).
# Usage: scripts/bench-storage.sh [KEYS] [SECONDS] [ROUNDS]   (default: 1000000 5 1)
# With several rounds the three engines take turns, round after round, and each cell is the median of its
# rounds: on a shared machine a single run moves by 20-30% (fsync latency, what compaction is doing when the
# reads start), more than the differences being measured.
set -euo pipefail
cd "$(dirname "$0")/../bench/storage-compare"
keys=${1:-1000000}; secs=${2:-5}; rounds=${3:-1}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cargo build --release -q --target-dir target/aes
cargo build --release -q --target-dir target/null --features null-cipher
for r in $(seq "$rounds"); do
  target/aes/release/storage-compare ours "$keys" "$secs" >> "$out/aes"
  target/null/release/storage-compare ours "$keys" "$secs" >> "$out/null"
  target/aes/release/storage-compare fjall "$keys" "$secs" >> "$out/fjall"
done
# workload<TAB>median of the rounds (the lower middle one for an even count).
median() {
  sort -t $'\t' -k1,1 -k2,2g "$1" | awk -F'\t' -v n="$rounds" '{ v[$1] = v[$1] " " $2 }
    END { for (w in v) { split(substr(v[w], 2), a, " "); print w "\t" a[int((n + 1) / 2)] } }' | sort
}
echo "# $(nproc) cores, $keys keys, ${secs}s per timed workload, median of $rounds round(s)"
echo "| workload | ours (AES-256-GCM) | ours (null cipher) | fjall 3 | encrypted / null | ours / fjall |"
echo "|---|---|---|---|---|---|"
join -t $'\t' <(median "$out/aes") <(median "$out/null") | join -t $'\t' - <(median "$out/fjall") \
  | awk -F'\t' '{ printf "| %s | %s | %s | %s | %.2f | %.2f |\n", $1, $2, $3, $4, $2/$3, $2/$4 }'
