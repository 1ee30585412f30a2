#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 15), starting from the corpus kept in fuzz/corpus: its
# inputs, the crashes found so far among them, run first, so a crash that comes back fails the run. Prints
# each target's executions and corpus growth; any crash, leak or timeout fails it (the input is left in
# fuzz/artifacts/<target>/). CI runs it; cargo-fuzz is installed on first use.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-15}; shift || true
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --quiet --locked cargo-fuzz --version 0.13.2
fi
# cargo-fuzz needs nightly flags (sanitizers); the stable toolchain takes them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
targets=("$@"); [ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
cargo fuzz build 2>&1 | tail -1
for t in "${targets[@]}"; do
  work=$(mktemp -d); log=$(mktemp)
  mkdir -p "corpus/$t"; cp -r "corpus/$t/." "$work/"
  if ! cargo fuzz run "$t" "$work" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz $t: FAILED (the input is in fuzz/artifacts/$t/)"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz $t: ${runs:-?} executions in ${secs}s, no crash; corpus $(ls "corpus/$t" | wc -l) -> $(ls "$work" | wc -l) inputs"
  rm -rf "$work" "$log"
done
