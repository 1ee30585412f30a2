#!/usr/bin/env bash
# GetItem and PutItem on a table under the owned key against a table under a customer managed key, in one
# run on one server, and the KMS calls the customer-key table's requests cost (counted in the audit trail).
# Usage: scripts/bench-sse.sh [ITEMS] [SECONDS] [CONNECTIONS]   (default: 100000 10 64; needs the aws CLI)
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
key=$(aws --endpoint-url "$url" kms create-key --query KeyMetadata.Arn --output text)
kms_calls() {
  local n=0
  for e in Decrypt GenerateDataKey Encrypt DescribeKey CreateGrant; do
    n=$((n + $(aws --endpoint-url "$url" cloudtrail lookup-events --max-results 50 \
      --lookup-attributes "AttributeKey=EventName,AttributeValue=$e" --query 'length(Events)' --output text)))
  done
  echo "$n"
}
echo "# $(nproc) cores, $items items of ~1 KB, $conns connections, ${secs}s per workload"
bench() { ./target/release/strongroom-bench --url "$url" --connections "$conns" --items "$items" "$@"; }
# Load both tables first, so the measured runs start with warm caches.
bench --workload get-item --table owned --seconds 1 >/dev/null
bench --workload get-item --table cmk --sse-key "$key" --seconds 1 >/dev/null
before=$(kms_calls)
for w in get-item put-item; do
  echo "owned key:            $(bench --workload "$w" --table owned --seconds "$secs")"
  echo "customer managed key: $(bench --workload "$w" --table cmk --sse-key "$key" --seconds "$secs")"
done
after=$(kms_calls)
echo "KMS calls during the measured runs (warm table-key cache): $((after - before))"
