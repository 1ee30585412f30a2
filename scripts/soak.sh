#!/usr/bin/env bash
# A soak run (not in CI): YCSB workload A on a table of ITEMS items at CONNECTIONS connections for MINUTES,
# measured in 10-second slices; after each slice the server's RSS, open files and data directory size are
# sampled beside the slice's throughput, p99 and errors, and from the server's /metrics the flushes,
# compactions and WAL fsyncs of the slice (to tell a slow slice's cause). Prints one line a slice and a
# summary: first and last RSS, the largest, and every error. The server's block cache is bounded
# (--block-cache-size, shared by all tables); growth beyond it would show as an RSS that keeps climbing slice
# after slice.
# Usage: scripts/soak.sh [MINUTES] [CONNECTIONS] [ITEMS]   (default: 30 64 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}; conns=${2:-64}; items=${3:-100000}
SERVER_ARGS=--metrics
source scripts/lib-server.sh
counter() { curl -s "$url/metrics" | awk -v n="$1" '$1 == n {print int($2)}'; }
out=$(mktemp)
echo "# $(nproc) cores, workload A, $conns connections, $items items, $minutes min in 10 s slices"
printf '%-6s %-9s %-9s %-7s %-9s %-6s %-9s %-8s %-8s %-8s\n' slice rps p99_ms errors rss_mib fds data_mib flushes compacts fsyncs
last=(0 0 0)
end=$(( $(date +%s) + minutes * 60 ))
slice=0
while [ "$(date +%s)" -lt "$end" ]; do
  r=$(./target/release/strongroom-bench --url "$url" --connections "$conns" --seconds 10 \
        --workload ycsb-a --items "$items" --json)
  rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")
  fds=$(ls "/proc/$pid/fd" | wc -l)
  # A file deleted during the walk (a compaction's inputs, an old manifest) makes du fail; its total stands.
  disk=$(du -sm "$data" 2>/dev/null | cut -f1 || true)
  now=("$(counter strongroom_storage_flushes_total)" "$(counter strongroom_storage_compactions_total)" \
       "$(counter strongroom_wal_fsyncs_total)")
  work="$(( now[0] - last[0] )) $(( now[1] - last[1] )) $(( now[2] - last[2] ))"
  last=("${now[@]}")
  python3 - "$r" "$slice" "$rss" "$fds" "$disk" $work <<'PY' | tee -a "$out"
import json, sys
r = json.loads(sys.argv[1])
a = sys.argv
print(f"{a[2]:<6} {r['rps']:<9.0f} {r['p99_ms']:<9.2f} {r['errors']:<7} {a[3]:<9} {a[4]:<6} {a[5]:<9} {a[6]:<8} {a[7]:<8} {a[8]:<8}")
PY
  slice=$((slice + 1))
done
python3 - "$out" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
rss = [int(r[4]) for r in rows]
print(f"\n{len(rows)} slices: rps {min(float(r[1]) for r in rows):.0f}-{max(float(r[1]) for r in rows):.0f}, "
      f"p99 {min(float(r[2]) for r in rows):.2f}-{max(float(r[2]) for r in rows):.2f} ms, "
      f"errors {sum(int(r[3]) for r in rows)}, RSS first {rss[0]} MiB, last {rss[-1]} MiB, max {max(rss)} MiB, "
      f"open files {min(int(r[5]) for r in rows)}-{max(int(r[5]) for r in rows)}")
PY
rm -f "$out"
