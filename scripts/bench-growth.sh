#!/usr/bin/env bash
# How the cost of a read grows with the table: YCSB workload C (zipfian GetItem) on a table of SMALL items and
# on one of LARGE items (about 1 KB each), one server. Each table is loaded, then the script waits until the
# server's flushes and compactions have stopped for 15 s (as a table loaded a while ago would be; the load's
# compactions otherwise run during the measurement), then measures twice (the first run warms the block
# cache). Prints both and the growth in cost per request (small rps / large rps - 1; issue 9's target
# is under 25% from 10,000 to 10,000,000 items).
# Usage: scripts/bench-growth.sh [SMALL] [LARGE] [SECONDS] [CONNECTIONS]   (default: 10000 10000000 10 64)
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-10000}; large=${2:-10000000}; secs=${3:-10}; conns=${4:-64}
SERVER_ARGS=--metrics
source scripts/lib-server.sh
counter() { curl -s "$url/metrics" | awk -v n="$1" '$1 == n {print int($2)}'; }
# Until neither counter has moved for 15 s (at most 30 minutes).
quiesce() {
  local last="" now same=0 waited=0
  while [ $same -lt 15 ] && [ $waited -lt 1800 ]; do
    now="$(counter strongroom_storage_flushes_total) $(counter strongroom_storage_compactions_total)"
    if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; last=$now; fi
    sleep 1; waited=$((waited + 1))
  done
  echo "# background work settled after ${waited}s (flushes, compactions: $last)"
}
echo "# $(nproc) cores, $conns connections, ${secs}s per run, server and load generator on the same machine"
declare -A rps
for items in "$small" "$large"; do
  ./target/release/strongroom-bench --url "$url" --connections "$conns" --seconds 1 --workload ycsb-c \
    --items "$items" --table "t$items" | grep -i loaded || true
  quiesce
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
