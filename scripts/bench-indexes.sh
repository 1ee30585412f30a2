#!/usr/bin/env bash
# PutItem on a table with two global secondary indexes and one local one against the same table without
# indexes, and TransactWriteItems of four items, in one run on one server.
# Usage: scripts/bench-indexes.sh [ITEMS] [SECONDS] [CONNECTIONS]   (default: 100000 10 64)
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-100000}; secs=${2:-10}; conns=${3:-64}
source scripts/lib-server.sh
echo "# $(nproc) cores, $items items of ~1 KB, $conns connections, ${secs}s per workload"
bench() { ./target/release/strongroom-bench --url "$url" --connections "$conns" --items "$items" "$@"; }
# Load both tables first, so the measured runs start alike.
bench --workload get-item --table plain --seconds 1 >/dev/null
bench --workload get-item --table indexed --indexes --seconds 1 >/dev/null
echo "no index:            $(bench --workload put-item --table plain --seconds "$secs")"
echo "2 GSIs + 1 LSI:      $(bench --workload put-item --table indexed --indexes --seconds "$secs")"
echo "4-item transaction:  $(bench --workload transact-write --table plain --seconds "$secs")"
