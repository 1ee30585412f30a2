#!/usr/bin/env bash
# PutItem on a table with two global secondary indexes and one local one against the same table without
# indexes, and TransactWriteItems of four items, in one run on one server.
# Usage: scripts/bench-indexes.sh [ITEMS] [SECONDS] [CONNECTIONS]   (default: 100000 10 64)
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-100000}; secs=${2:-10}; conns=${3:-64}
cargo build --release -q -p strongroom -p strongroom-bench
export AWS_ACCESS_KEY_ID=AKIABENCHROOT0000001 AWS_SECRET_ACCESS_KEY=bench-secret-0123456789 AWS_DEFAULT_REGION=us-east-1
export STRONGROOM_ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID STRONGROOM_ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
data=$(mktemp -d); log=$(mktemp)
./target/release/strongroom serve --listen 127.0.0.1:0 --data-dir "$data" --log warn >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$log"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
url=$(sed -n 's/^strongroom listening on //p' "$log")
echo "# $(nproc) cores, $items items of ~1 KB, $conns connections, ${secs}s per workload"
bench() { ./target/release/strongroom-bench --url "$url" --connections "$conns" --items "$items" "$@"; }
# Load both tables first, so the measured runs start alike.
bench --workload get-item --table plain --seconds 1 >/dev/null
bench --workload get-item --table indexed --indexes --seconds 1 >/dev/null
echo "no index:            $(bench --workload put-item --table plain --seconds "$secs")"
echo "2 GSIs + 1 LSI:      $(bench --workload put-item --table indexed --indexes --seconds "$secs")"
echo "4-item transaction:  $(bench --workload transact-write --table plain --seconds "$secs")"
