#!/usr/bin/env bash
# Starts a release build of Strongroom on a free loopback port with a throwaway data directory, runs the load
# generator against it for each workload named, and prints one line per workload.
# Usage: scripts/bench-server.sh [SECONDS] [CONNECTIONS] [WORKLOAD ...]   (default: 10 64 health list-tables)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conns=${2:-64}; shift 2 || true
workloads=("$@"); [ ${#workloads[@]} -gt 0 ] || workloads=(health list-tables)
cargo build --release -q -p strongroom -p strongroom-bench
data=$(mktemp -d); log=$(mktemp)
export STRONGROOM_ROOT_ACCESS_KEY_ID=AKIABENCHROOT0000001 STRONGROOM_ROOT_SECRET_ACCESS_KEY=bench-secret-0123456789
./target/release/strongroom serve --listen 127.0.0.1:0 --data-dir "$data" --log warn >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$log"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
url=$(sed -n 's/^strongroom listening on //p' "$log")
echo "# $(nproc) cores, $conns connections, ${secs}s each, server and load generator on the same machine"
for w in "${workloads[@]}"; do
  AWS_ACCESS_KEY_ID=$STRONGROOM_ROOT_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$STRONGROOM_ROOT_SECRET_ACCESS_KEY \
    ./target/release/strongroom-bench --url "$url" --connections "$conns" --seconds "$secs" --workload "$w"
done
