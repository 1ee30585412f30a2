#!/usr/bin/env bash
# PutItem on a table with a stream (NEW_AND_OLD_IMAGES) against the same table without one, then stream
# readers (GetShardIterator, then GetRecords of up to 1,000 records until the end, over and over), in one run
# on one server.
# Usage: scripts/bench-streams.sh [ITEMS] [SECONDS] [CONNECTIONS]   (default: 100000 10 64)
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-100000}; secs=${2:-10}; conns=${3:-64}
source scripts/lib-server.sh
echo "# $(nproc) cores, $items items of ~1 KB, $conns connections, ${secs}s per workload"
bench() { ./target/release/strongroom-bench --url "$url" --items "$items" "$@"; }
bench --workload get-item --table plain --seconds 1 >/dev/null
bench --workload get-item --table streamed --stream --seconds 1 >/dev/null
echo "no stream:           $(bench --workload put-item --table plain --connections "$conns" --seconds "$secs")"
echo "stream:              $(bench --workload put-item --table streamed --stream --connections "$conns" --seconds "$secs")"
echo "stream readers ($((conns / 16 > 0 ? conns / 16 : 1)) connections):"
bench --workload stream-read --table streamed --stream --seconds "$secs" --connections $((conns / 16 > 0 ? conns / 16 : 1))
