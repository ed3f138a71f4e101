#!/usr/bin/env bash
# Builds and tests the Node.js package (aurora-db): installs the npm dependencies, builds the
# native addon once (scripts/build.js: cargo build --release), then runs every test under test/
# with `node --test`. Needs only Rust (cargo), Node >= 18 and npm. Exits non-zero on any failure.
#
#   node/test.sh                         # everything, including the packed-tarball install test
#   AURORA_SKIP_PACK_TEST=1 node/test.sh # skip the slow npm pack + install test
#   AURORA_NODE_ADDON=FILE node/test.sh  # test this prebuilt addon (e.g. the one scripts/package.sh
#                                        # put in dist/) instead of building one
set -euo pipefail
ADDON=""
[ -n "${AURORA_NODE_ADDON:-}" ] && ADDON=$(realpath "$AURORA_NODE_ADDON")
cd "$(dirname "$0")"

echo "== npm dependencies"
# --ignore-scripts: better-sqlite3 (a benchmark-only devDependency) need not compile its addon
# for the tests.
if [ -f package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund
else
  npm install --ignore-scripts --no-audit --no-fund
fi

if [ -n "$ADDON" ]; then
  echo "== native addon: $ADDON (prebuilt)"
  cp "$ADDON" aurora.node
else
  echo "== native addon (cargo build --release)"
  node scripts/build.js
fi

echo "== node --test"
tests=()
for t in test/*.test.mjs; do
  [ "${AURORA_SKIP_PACK_TEST:-}" = "1" ] && [ "$t" = test/pack.test.mjs ] && continue
  tests+=("$t")
done
node --test --test-concurrency=1 "${tests[@]}"
