#!/usr/bin/env bash
# Builds everything and runs every test suite of every language. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$*"; }

step "rust: format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "rust: unit, integration, conformance and crash tests"
cargo test --workspace --quiet

step "rust: benchmark smoke run"
AURORA_BENCH_QUICK=1 cargo bench -p aurora-db --bench engine --quiet

echo
echo "all suites passed"
