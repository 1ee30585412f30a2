#!/usr/bin/env bash
# What a restart costs a large table: the count of its items (DescribeTable's ItemCount and TableSizeBytes)
# that runs when the table is first used after the server starts. Loads ITEMS items of about 1 KB, stops the
# server (SIGTERM), then ROUNDS times starts it on the same directory, opens the table with one second of
# GetItem on one connection and waits for the server's "counted a table's items" log line; prints the
# count's own time (one thread, so about its CPU time).
# Usage: scripts/bench-count.sh [ITEMS] [ROUNDS]   (default: 1000000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-1000000}; rounds=${2:-3}
cargo build --release -q -p strongroom -p strongroom-bench
export AWS_ACCESS_KEY_ID=AKIABENCHROOT0000001 AWS_SECRET_ACCESS_KEY=bench-secret-0123456789 AWS_DEFAULT_REGION=us-east-1
export STRONGROOM_ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID STRONGROOM_ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
data=$(mktemp -d); log=$(mktemp); pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$data" "$log"' EXIT
start() {
  : >"$log"
  ./target/release/strongroom serve --listen 127.0.0.1:0 --data-dir "$data" --log info >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
  url=$(sed -n 's/^strongroom listening on //p' "$log")
}
stop() { kill -TERM $pid; wait $pid 2>/dev/null || true; pid=; }
start
./target/release/strongroom-bench --url "$url" --connections 64 --seconds 1 --workload get-item --items "$items" 2>&1 | grep -i loaded || true
stop
for round in $(seq "$rounds"); do
  start
  ./target/release/strongroom-bench --url "$url" --connections 1 --seconds 1 --workload get-item --items "$items" >/dev/null
  for _ in $(seq 1200); do grep -q "counted a table's items" "$log" && break; sleep 0.05; done
  line=$(grep "counted a table's items" "$log" | tail -1)
  echo "round $round: $(echo "$line" | grep -o 'items=[0-9]*') $(echo "$line" | grep -o 'elapsed_ms=[0-9]*')"
  stop
done
