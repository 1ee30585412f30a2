#!/usr/bin/env bash
# GetItem and PutItem on a table under the owned key against a table under a customer managed key, in one
# run on one server, and the KMS calls the customer-key table's requests cost (counted in the audit trail).
# Usage: scripts/bench-sse.sh [ITEMS] [SECONDS] [CONNECTIONS]   (default: 100000 10 64; needs the aws CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-100000}; secs=${2:-10}; conns=${3:-64}
source scripts/lib-server.sh
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
