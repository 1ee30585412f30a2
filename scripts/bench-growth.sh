#!/usr/bin/env bash
# How the cost of a read grows with the table: YCSB workload C (zipfian GetItem) on a table of SMALL items and
# on one of LARGE items (about 1 KB each), one server, each measured twice after its load (the first run warms
# the block cache). Prints both and the growth in cost per request (small rps / large rps - 1; issue 9's target
# is under 25% from 10,000 to 10,000,000 items).
# Usage: scripts/bench-growth.sh [SMALL] [LARGE] [SECONDS] [CONNECTIONS]   (default: 10000 10000000 10 64)
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-10000}; large=${2:-10000000}; secs=${3:-10}; conns=${4:-64}
source scripts/lib-server.sh
echo "# $(nproc) cores, $conns connections, ${secs}s per run, server and load generator on the same machine"
declare -A rps
for items in "$small" "$large"; do
  for run in 1 2; do
    out=$(./target/release/strongroom-bench --url "$url" --connections "$conns" --seconds "$secs" \
            --workload ycsb-c --items "$items" --table "t$items" --json)
    echo "$items items, run $run: $out"
    rps[$items]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rps"])' "$out")
  done
  echo "# data directory: $(du -sh "$data" | cut -f1), server RSS $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' /proc/$pid/status)"
done
python3 -c 'import sys; s, l = float(sys.argv[1]), float(sys.argv[2]); print(f"workload C: {s:.0f} req/s at '"$small"' items, {l:.0f} at '"$large"': cost growth {100 * (s / l - 1):.1f}%")' \
  "${rps[$small]}" "${rps[$large]}"
