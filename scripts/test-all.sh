#!/usr/bin/env bash
# Builds everything and runs every test suite of every language. CI runs exactly this.
# It installs what it needs: a Python venv (maturin, pytest, mypy, ruff), npm packages,
# Debian's libjna-java and npm's kotlin-compiler (via node/test.sh and ffi/test.sh), cargo-fuzz
# (via fuzz/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s ===\n' "$*"; }
started=$(date +%s)

step "rust: format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "rust: unit, integration, conformance, README doctests and crash tests"
cargo test --workspace --quiet

step "python: build the extension, pytest, ruff, mypy --strict"
VENV="$ROOT/target/py-venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.9,<2.0" pytest pytest-asyncio mypy ruff
(cd python && VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" maturin develop --quiet)
"$VENV/bin/python" -m pytest -q python/tests
"$VENV/bin/ruff" check python/python python/tests
"$VENV/bin/ruff" format --check python/python python/tests
(cd python && "$VENV/bin/mypy" --strict python/aurora_db)

step "node: napi addon, node --test"
bash node/test.sh

step "kotlin, swift header, c: uniffi + C ABI"
bash ffi/test.sh

step "fuzz: cargo-fuzz targets aql, wal_decode, c_abi_strings (20 s each, AddressSanitizer)"
bash fuzz/run.sh 20

step "rust: benchmark smoke run"
AURORA_BENCH_QUICK=1 cargo bench -p aurora-db --bench engine --quiet

echo
echo "all suites passed in $(( $(date +%s) - started )) s"
