#!/usr/bin/env bash
# Issue 4's storage benchmark in one run: our engine with AES-256-GCM, our engine with the bench-only null
# cipher, and fjall 3, on the same workloads (32-byte keys, 1 KiB incompressible values, every write fsynced).
# Usage: scripts/bench-storage.sh [KEYS] [SECONDS]   (default: 1000000 5)
set -euo pipefail
cd "$(dirname "$0")/../bench/storage-compare"
keys=${1:-1000000}; secs=${2:-5}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cargo build --release -q --target-dir target/aes
cargo build --release -q --target-dir target/null --features null-cipher
target/aes/release/storage-compare ours "$keys" "$secs" > "$out/aes"
target/null/release/storage-compare ours "$keys" "$secs" > "$out/null"
target/aes/release/storage-compare fjall "$keys" "$secs" > "$out/fjall"
echo "# $(nproc) cores, $keys keys, ${secs}s per timed workload"
echo "| workload | ours (AES-256-GCM) | ours (null cipher) | fjall 3 | encrypted / null | ours / fjall |"
echo "|---|---|---|---|---|---|"
join -t $'\t' <(sort "$out/aes") <(sort "$out/null") | join -t $'\t' - <(sort "$out/fjall") \
  | awk -F'\t' '{ printf "| %s | %s | %s | %s | %.2f | %.2f |\n", $1, $2, $3, $4, $2/$3, $2/$4 }'
