#!/usr/bin/env bash
# Installs each artifact of dist/ (made by scripts/package.sh) in a clean place with no Rust
# toolchain on PATH (cargo and rustc are shadowed by commands that fail, CARGO=RUSTC=false, so an
# accidental build from source fails loudly), and runs the smoke test of tests/packages/ in each:
# a fresh venv (pip install of the wheel), an empty npm project (npm install of the main and the
# platform tarballs), a Kotlin program on a plain class path with the jar, and a C program built
# through pkg-config, linked dynamically and statically. Each smoke test opens a database, defines
# a schema, inserts with variables, queries, reads a subscription event, runs a job in a handler
# of its language and checks an error code and the version.
#
#   scripts/test-packages.sh     # ends with "packages: N passed, N failed"; non-zero on a failure
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=SCRIPTDIR/lib/jvm.sh
. scripts/lib/jvm.sh
VERSION=$(python3 scripts/check-version.py) || exit 1
DIST="$ROOT/dist"
SMOKE="$ROOT/tests/packages"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
step() { printf '\n=== %s\n' "$*"; }
# result STATUS WHAT: counts one artifact's outcome.
result() {
  if [ "$1" -eq 0 ]; then passed=$((passed + 1)); echo "PASS: $2"; else failed=$((failed + 1)); echo "FAIL: $2" >&2; fi
}

names() { for f in "$@"; do printf '%s ' "${f##*/}"; done; }

# What the tests use, found while Rust is still on PATH: python3, node/npm, gcc, pkg-config (apt),
# the JVM toolchain.
if ! command -v pkg-config >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq pkg-config; } >/dev/null
fi
jvm_setup || { echo "cannot install libjna-java / kotlin-compiler" >&2; exit 1; }
PYTHON=$(command -v python3)

# No Rust from here on: drop cargo's directories from PATH and shadow whatever is left.
mkdir -p "$WORK/no-rust"
for tool in cargo rustc rustup; do
  printf '#!/bin/sh\necho "test-packages: %s was called: something builds from source" >&2\nexit 97\n' "$tool" \
    > "$WORK/no-rust/$tool"
  chmod +x "$WORK/no-rust/$tool"
done
PATH="$WORK/no-rust:$(echo "$PATH" | tr ':' '\n' | grep -v -e '\.cargo' -e '\.rustup' | paste -sd: -)"
export PATH CARGO=false RUSTC=false
unset LD_LIBRARY_PATH CARGO_TARGET_DIR

step "python: pip install the wheel into a fresh venv"
(
  set -e
  "$PYTHON" -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet --no-index --disable-pip-version-check "$DIST"/python/*.whl
  cd "$WORK" && "$WORK/venv/bin/python" "$SMOKE/smoke.py" "$VERSION" "$WORK/py.db"
)
result $? "python: $(names "$DIST"/python/*.whl)"

step "node: npm install of the main and the platform tarballs into an empty project"
(
  set -e
  mkdir "$WORK/npm" && cd "$WORK/npm"
  echo '{ "name": "smoke", "version": "1.0.0", "private": true }' > package.json
  # Both tarballs at once: the platform package is not published, so npm must take it from here
  # (a release publishes the platform packages first; then `npm install aurora-db` is enough).
  npm install --no-audit --no-fund --foreground-scripts "$DIST/node/aurora-db-$VERSION.tgz" \
    "$DIST"/node/aurora-db-*-"$VERSION".tgz 2>&1 | tee "$WORK/npm.log"
  if grep -E '^> .*(preinstall|install|postinstall)' "$WORK/npm.log"; then
    echo "an install script ran" >&2
    exit 1
  fi
  node "$SMOKE/smoke.mjs" "$VERSION" "$WORK/node.db"
)
result $? "node: $(names "$DIST"/node/*.tgz)"

step "kotlin: a program compiled against the jar, run on a plain class path"
JAR="$DIST/jvm/aurora-$VERSION.jar"
(
  set -e
  "$KOTLINC" -nowarn -cp "$JAR:$JNA_JAR:$COROUTINES_JAR" "$SMOKE/Smoke.kt" -d "$WORK/smoke.jar"
  cd "$WORK" && java -cp "$WORK/smoke.jar:$JAR:$JNA_JAR:$COROUTINES_JAR:$STDLIB_JAR" SmokeKt "$VERSION" "$WORK/kt.db"
)
result $? "kotlin: $(names "$JAR")"

step "c: pkg-config, linked dynamically and with --static"
(
  set -e
  mkdir "$WORK/c"
  tar xzf "$DIST"/c/aurora-"$VERSION"-*.tar.gz -C "$WORK/c"
  PKG_CONFIG_PATH=$(echo "$WORK"/c/aurora-*/lib/pkgconfig)
  export PKG_CONFIG_PATH
  test "$(pkg-config --modversion aurora)" = "$VERSION"
  libdir=$(pkg-config --variable=libdir aurora)
  # shellcheck disable=SC2046 # pkg-config prints several words on purpose
  gcc -std=c11 -Wall -Wextra -Werror "$SMOKE/smoke.c" -o "$WORK/smoke-dynamic" $(pkg-config --cflags --libs aurora) \
    -Wl,-rpath,"$libdir"
  ldd "$WORK/smoke-dynamic" | grep -q "$libdir/libaurora_ffi.so"
  "$WORK/smoke-dynamic" "$VERSION" "$WORK/c-dynamic.db"
  # shellcheck disable=SC2046
  gcc -static -std=c11 -Wall -Wextra -Werror "$SMOKE/smoke.c" -o "$WORK/smoke-static" \
    $(pkg-config --static --cflags --libs aurora) 2> "$WORK/static.log" || { cat "$WORK/static.log" >&2; exit 1; }
  if ldd "$WORK/smoke-static" >/dev/null 2>&1; then echo "smoke-static is dynamically linked" >&2; exit 1; fi
  "$WORK/smoke-static" "$VERSION" "$WORK/c-static.db"
)
result $? "c: $(names "$DIST"/c/*.tar.gz)"

echo
echo "packages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
