#!/usr/bin/env bash
# Builds and tests the Node.js package (aurora-db): installs the npm dependencies, builds the
# native addon once (napi build --release), then runs every test under test/ with `node --test`.
# Needs only Rust (cargo), Node >= 18 and npm. Exits non-zero on any failure.
#
#   node/test.sh                         # everything, including the packed-tarball install test
#   AURORA_SKIP_PACK_TEST=1 node/test.sh # skip the slow npm pack + install test
set -euo pipefail
cd "$(dirname "$0")"

echo "== npm dependencies"
# --ignore-scripts: our own install script (the addon build) runs explicitly below, and
# better-sqlite3 (a benchmark-only devDependency) need not compile its addon for the tests.
if [ -f package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund
else
  npm install --ignore-scripts --no-audit --no-fund
fi

echo "== native addon (napi build --release)"
node scripts/build.js

echo "== node --test"
tests=(test/*.test.mjs)
if [ "${AURORA_SKIP_PACK_TEST:-}" = "1" ]; then
  tests=("${tests[@]/test\/pack.test.mjs}")
fi
node --test --test-concurrency=1 ${tests[@]}
