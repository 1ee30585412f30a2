#!/usr/bin/env bash
# Strongroom beside the servers users run today, loaded the same way in one run: moto's server (PyPI) and
# dynalite (npm), each on a free loopback port with a fresh store. For each server: a table of ITEMS items of
# about 1 KB is loaded with BatchWriteItem, then YCSB's core workloads A-F (bench/src/ycsb.rs), PutItem,
# GetItem and Query (one 10-item partition) run for SECONDS each on CONNECTIONS keep-alive connections, and
# ListTables (a trivial authenticated request: the protocol ceiling). Prints a table of requests/s and p99
# with Strongroom's ratio to each peer, and each server's peak RSS.
# Usage: scripts/bench-peers.sh [ITEMS] [SECONDS] [CONNECTIONS] [SERVER ...]
#        (default: 100000 10 64 strongroom moto dynalite)
# WORKLOADS="put-item get-item" limits the workloads (moto's Query reads its whole table: 93 s a Query at
# 100,000 items, so query and ycsb-e are left out for moto unless WORKLOADS names them).
# The peers are installed on first use under target/peers (a Python venv and an npm prefix).
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-100000}; secs=${2:-10}; conns=${3:-64}; shift 3 || true
servers=("$@"); [ ${#servers[@]} -gt 0 ] || servers=(strongroom moto dynalite)
peers=$PWD/target/peers
mkdir -p "$peers"
if [[ " ${servers[*]} " == *" moto "* && ! -x $peers/venv/bin/moto_server ]]; then
  python3 -m venv "$peers/venv"
  "$peers/venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]'
fi
if [[ " ${servers[*]} " == *" dynalite "* && ! -x $peers/node/node_modules/.bin/dynalite ]]; then
  mkdir -p "$peers/node"
  npm install --silent --prefix "$peers/node" dynalite
fi
cargo build --release -q -p strongroom -p strongroom-bench

export AWS_ACCESS_KEY_ID=AKIABENCHROOT0000001 AWS_SECRET_ACCESS_KEY=bench-secret-0123456789
export STRONGROOM_ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID STRONGROOM_ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
results=$(mktemp); work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start() {
  local port; port=$(free_port)
  url=http://127.0.0.1:$port
  case $1 in
    strongroom) ./target/release/strongroom serve --listen "127.0.0.1:$port" --data-dir "$work/strongroom" \
                  --log warn >"$work/log" 2>&1 & ;;
    moto) "$peers/venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/log" 2>&1 & ;;
    dynalite) node "$peers/node/node_modules/dynalite/cli.js" --port "$port" --host 127.0.0.1 \
                --createTableMs 0 --deleteTableMs 0 >"$work/log" 2>&1 & ;;
  esac
  pid=$!
  for _ in $(seq 300); do
    curl -s -o /dev/null "$url/" && return 0
    sleep 0.1
  done
  echo "$1 did not start" >&2; cat "$work/log" >&2; exit 1
}

echo "# $(nproc) cores, $items items of ~1 KB, $conns connections, ${secs}s per workload; load generator on the same machine"
for server in "${servers[@]}"; do
  start "$server"
  all="ycsb-a ycsb-b ycsb-c ycsb-d ycsb-e ycsb-f put-item get-item query list-tables"
  [ "$server" = moto ] && all="ycsb-a ycsb-b ycsb-c ycsb-d ycsb-f put-item get-item list-tables"
  for w in ${WORKLOADS:-$all}; do
    out=$(./target/release/strongroom-bench --url "$url" --connections "$conns" --seconds "$secs" \
            --workload "$w" --items "$items" --json)
    echo "$server $out" | tee -a "$results"
  done
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  echo "$server {\"workload\": \"peak-rss-kib\", \"rps\": $rss}" | tee -a "$results"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  rm -rf "$work/strongroom"
done

python3 - "$results" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    server, payload = line.split(" ", 1)
    r = json.loads(payload)
    rows.setdefault(r["workload"], {})[server] = r
servers = list(dict.fromkeys(s for w in rows.values() for s in w))
peers = [s for s in servers if s != "strongroom"]
head = "| workload | " + " | ".join(f"{s} req/s (p99 ms)" for s in servers) + "".join(f" | x {p}" for p in peers) + " |"
print(); print(head); print("|" + "---|" * (head.count("|") - 1))
for w in ["ycsb-a", "ycsb-b", "ycsb-c", "ycsb-d", "ycsb-e", "ycsb-f", "put-item", "get-item", "query", "list-tables"]:
    r = rows.get(w, {})
    cells = [f"{r[s]['rps']:.0f} ({r[s]['p99_ms']:.1f})" if s in r else "-" for s in servers]
    ratios = [f"{r['strongroom']['rps'] / r[p]['rps']:.1f}" if "strongroom" in r and p in r and r[p]['rps'] else "-" for p in peers]
    print(f"| {w} | " + " | ".join(cells) + "".join(f" | {x}" for x in ratios) + " |")
rss = rows.get("peak-rss-kib", {})
print("| peak RSS (MiB) | " + " | ".join(f"{rss[s]['rps'] / 1024:.0f}" if s in rss else "-" for s in servers) + " |" * (len(peers) + 1))
if "strongroom" in rows.get("get-item", {}) and "strongroom" in rows.get("list-tables", {}):
    g, l = rows["get-item"]["strongroom"]["rps"], rows["list-tables"]["strongroom"]["rps"]
    print(f"\nStrongroom GetItem / ListTables (protocol ceiling): {g / l:.2f}")
errors = {(w, s): r["errors"] for w, by in rows.items() for s, r in by.items() if r.get("errors")}
if errors:
    print("errors:", errors)
EOF
