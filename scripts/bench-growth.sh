#!/usr/bin/env bash
# How the cost of a read grows with the table: YCSB workload C (zipfian GetItem) on a table of SMALL items and
# on one of LARGE items (about 1 KB each), one server. Both tables are loaded, then the script waits until the
# server's flushes and compactions have stopped for 15 s (as a table loaded a while ago would be; the load's
# compactions otherwise run during the measurement). Each table is then read for WARM seconds unmeasured,
# since the block cache takes tens of seconds of zipfian reads to settle on the hot blocks (runs after the
# load climbed 25k, 31k, 34k, 35k req/s at 10,000,000 items), and measured in ROUNDS rounds that alternate
# the tables, so a machine that speeds up or slows down weighs on both alike. Prints every run, the medians
# and the growth in cost per request (small rps / large rps - 1; issue 9's target is under 25% from 10,000
# to 10,000,000 items).
# Usage: scripts/bench-growth.sh [SMALL] [LARGE] [SECONDS] [CONNECTIONS] [WARM] [ROUNDS]
#        (default: 10000 10000000 10 64 30 3)
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-10000}; large=${2:-10000000}; secs=${3:-10}; conns=${4:-64}; warm=${5:-30}; rounds=${6:-3}
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
for items in "$small" "$large"; do
  ./target/release/strongroom-bench --url "$url" --connections "$conns" --seconds 1 --workload ycsb-c \
    --items "$items" --table "t$items" | grep -i loaded || true
done
quiesce
echo "# data directory: $(du -sh "$data" | cut -f1), server RSS $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' /proc/$pid/status)"
run() {
  ./target/release/strongroom-bench --url "$url" --connections "$conns" --seconds "$1" --workload ycsb-c \
    --items "$2" --table "t$2" --json
}
for items in "$small" "$large"; do
  echo "$items items, warm-up: $(run "$warm" "$items")"
done
declare -A runs
for round in $(seq "$rounds"); do
  for items in "$small" "$large"; do
    out=$(run "$secs" "$items")
    echo "$items items, round $round: $out"
    runs[$items]+=" $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rps"])' "$out")"
  done
done
echo "# server RSS $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' /proc/$pid/status)"
python3 - "$small" "$large" "${runs[$small]}" "${runs[$large]}" <<'PY'
import statistics, sys
small, large = sys.argv[1], sys.argv[2]
s, l = (statistics.median(map(float, a.split())) for a in sys.argv[3:5])
print(f"workload C, medians: {s:.0f} req/s at {small} items, {l:.0f} at {large}: cost growth {100 * (s / l - 1):.1f}%")
PY
