#!/usr/bin/env bash
# Starts a release build of Strongroom on a free loopback port with a throwaway data directory, runs the load
# generator against it for each workload named, and prints one line per workload.
# Usage: scripts/bench-server.sh [SECONDS] [CONNECTIONS] [WORKLOAD ...]   (default: 10 64 health list-tables)
# BENCH_ARGS adds flags to every run of the load generator, e.g. BENCH_ARGS="--rate 20000" for an open-loop
# run at a fixed offered load.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conns=${2:-64}; shift 2 || true
workloads=("$@"); [ ${#workloads[@]} -gt 0 ] || workloads=(health list-tables)
source scripts/lib-server.sh
echo "# $(nproc) cores, $conns connections, ${secs}s each, server and load generator on the same machine"
for w in "${workloads[@]}"; do
  ./target/release/strongroom-bench --url "$url" --connections "$conns" --seconds "$secs" --workload "$w" ${BENCH_ARGS:-}
done
