#!/usr/bin/env bash
# Builds everything and runs every test suite of every language. CI runs exactly this.
# It installs what it needs: Python venvs (pytest, mypy, ruff; maturin, ziglang, cargo-zigbuild
# via scripts/package.sh), npm packages, Debian's libjna-java and npm's kotlin-compiler (via
# node/test.sh, ffi/test.sh, scripts/package.sh), cargo-fuzz (via fuzz/run.sh).
#
# The Python and Node suites test the artifacts scripts/package.sh put in dist/ (built once, with
# profile $AURORA_PACKAGE_PROFILE, default dist: the release artifacts themselves), which
# scripts/test-packages.sh then installs in clean environments.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TERM_COLOR=never

started=$(date +%s)
step() { printf '\n=== %s === (at %d s)\n' "$*" $(( $(date +%s) - started )); }

step "rust: format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "rust: unit, integration, conformance, README doctests and crash tests"
# With the ffi crate's `cli` feature, so that ffi/test.sh's build reuses this one.
cargo test --workspace --quiet --features aurora-ffi/cli

step "version: one version in every manifest"
python3 scripts/check-version.py

step "packages: build dist/ once (scripts/package.sh --profile ${AURORA_PACKAGE_PROFILE:-dist})"
./scripts/package.sh --profile "${AURORA_PACKAGE_PROFILE:-dist}"

step "python: the packaged wheel, pytest, ruff, mypy --strict"
VENV="$ROOT/target/py-venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check pytest pytest-asyncio mypy ruff
"$VENV/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps dist/python/*.whl
"$VENV/bin/python" -m pytest -q python/tests
"$VENV/bin/ruff" check python/python python/tests
"$VENV/bin/ruff" format --check python/python python/tests
"$VENV/bin/ruff" check --config python/pyproject.toml scripts/check-version.py tests/packages/smoke.py
"$VENV/bin/ruff" format --check --config python/pyproject.toml scripts/check-version.py tests/packages/smoke.py
(cd python && "$VENV/bin/mypy" --strict python/aurora_db)

step "node: the packaged addon, node --test"
ADDON_DIR="$ROOT/target/packaged-addon"
rm -rf "$ADDON_DIR" && mkdir -p "$ADDON_DIR"
for tgz in dist/node/aurora-db-*-*.tgz; do tar xzf "$tgz" -C "$ADDON_DIR"; done
AURORA_NODE_ADDON=$(echo "$ADDON_DIR"/package/*.node) bash node/test.sh

step "kotlin, swift header, c: uniffi + C ABI"
bash ffi/test.sh

step "packages: install each artifact in a clean environment without Rust (scripts/test-packages.sh)"
./scripts/test-packages.sh

step "fuzz: cargo-fuzz targets aql, fragments, variables, wal_decode, c_abi_strings (20 s each, AddressSanitizer)"
bash fuzz/run.sh 20

step "rust: benchmark smoke runs (engine; scale at 100,000 documents, fresh processes)"
AURORA_BENCH_QUICK=1 cargo bench -p aurora-db --bench engine --quiet
cargo bench -p aurora-db --bench scale --quiet -- --n 100000 --quick

echo
echo "all suites passed in $(( $(date +%s) - started )) s"
