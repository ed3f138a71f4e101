#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and fails on any crash.
#
#   bash fuzz/run.sh            # 60 s per target
#   bash fuzz/run.sh 20         # CI (scripts/test-all.sh)
#   bash fuzz/run.sh 3600 aql   # a long run of one target
#   AURORA_FUZZ_SANITIZER=none bash fuzz/run.sh   # without AddressSanitizer (faster)
#
# Only stable Rust is needed: RUSTC_BOOTSTRAP=1 lets it accept the -Z flags cargo-fuzz passes.
# Installs cargo-fuzz if missing. Seeds (checked in) are in fuzz/seeds/<target>; what the fuzzer
# finds accumulates in fuzz/corpus/<target> (ignored by git) and crashes land in
# fuzz/artifacts/<target>/ (reproduce with `cargo fuzz run <target> <artifact>`).
set -euo pipefail
cd "$(dirname "$0")"

SECS=${1:-60}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(aql fragments variables wal_decode c_abi_strings)
fi
SANITIZER=${AURORA_FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi

echo "== building the fuzz targets (sanitizer: $SANITIZER)"
for t in "${TARGETS[@]}"; do
  cargo fuzz build --sanitizer "$SANITIZER" "$t"
done

LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
failed=0
summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  echo "== $t: ${SECS} s"
  log="$LOGS/$t.log"
  # -timeout: one input running longer than 30 s is a hang and counts as a crash. The outer
  # timeout catches a fuzzer that stops responding altogether.
  status=0
  timeout --kill-after=10 $((SECS + 120)) \
    cargo fuzz run --sanitizer "$SANITIZER" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECS" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  corpus=$(find "corpus/$t" -type f | wc -l)
  if [ "$status" -ne 0 ] || ! grep -q '^Done [0-9]* runs' "$log"; then
    failed=1
    echo "FAILED: $t (exit $status)"
    grep -E 'panicked at|ERROR: |SUMMARY: |Test unit written|Timeout|deadly signal' "$log" | head -20 || true
    echo "--- last lines of the log"
    tail -n 40 "$log"
    summary+=("$t: FAILED after ${execs:-?} executions")
  else
    echo "$t: ${execs} executions in ${SECS} s, corpus ${corpus} inputs, no crash"
    summary+=("$t: ${execs} executions in ${SECS} s (corpus ${corpus})")
  fi
done

echo
echo "== fuzz summary (sanitizer: $SANITIZER)"
printf '%s\n' "${summary[@]}"
exit $failed
