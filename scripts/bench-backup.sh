#!/usr/bin/env bash
# CreateBackup and RestoreTableFromBackup of a table of ITEMS items of ~1 KB (loaded first with
# BatchWriteItem), then RestoreTableToPointInTime of the same table with point-in-time recovery enabled
# after the load and ITEMS/10 more writes logged; prints items/s and MB/s of each (MB = TableSizeBytes).
# Usage: scripts/bench-backup.sh [ITEMS]   (default: 1000000; needs the aws CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-1000000}
source scripts/lib-server.sh
aws() { command aws --endpoint-url "$url" --output text "$@"; }
now() { date +%s.%N; }
rate() { python3 -c "import sys; n,b,s=map(float,sys.argv[1:]); print(f'{n/s:,.0f} items/s, {b/s/1e6:,.1f} MB/s ({s:.1f} s)')" "$@"; }
wait_active() {
  while [ "$(aws dynamodb describe-table --table-name "$1" --query Table.TableStatus)" != ACTIVE ]; do sleep 0.2; done
}
echo "# $(nproc) cores, $items items of ~1 KB"
./target/release/strongroom-bench --url "$url" --workload get-item --table big --items "$items" --seconds 1 >/dev/null
bytes=$(aws dynamodb describe-table --table-name big --query Table.TableSizeBytes)
t0=$(now)
arn=$(aws dynamodb create-backup --table-name big --backup-name bench-backup --query BackupDetails.BackupArn)
t1=$(now)
echo "CreateBackup:                $(rate "$items" "$bytes" "$(echo "$t1 - $t0" | bc)")"
t0=$(now)
aws dynamodb restore-table-from-backup --target-table-name big2 --backup-arn "$arn" >/dev/null
wait_active big2
t1=$(now)
echo "RestoreTableFromBackup:      $(rate "$items" "$bytes" "$(echo "$t1 - $t0" | bc)")"
aws dynamodb update-continuous-backups --table-name big \
  --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true >/dev/null
./target/release/strongroom-bench --url "$url" --workload put-item --table big --items "$items" --seconds 5 >/dev/null
t0=$(now)
aws dynamodb restore-table-to-point-in-time --source-table-name big --target-table-name big3 \
  --use-latest-restorable-time >/dev/null
wait_active big3
t1=$(now)
echo "RestoreTableToPointInTime:   $(rate "$items" "$bytes" "$(echo "$t1 - $t0" | bc)") (base copy + the put-item run's log)"
