#!/usr/bin/env bash
# Builds libaurora_ffi and its generators once, checks that the checked-in Kotlin/Swift
# bindings and C header are current, compiles the Swift C header, and runs the C tests
# (dynamic under valgrind, static) and the Kotlin tests on the JVM.
#
#   ffi/test.sh               run everything; exits non-zero on any failure
#   ffi/test.sh --regenerate  first rewrite ffi/bindings/ and ffi/include/aurora.h
#
# Installs what it lacks: Debian's libjna-java, gcc, g++, valgrind (apt) and npm's
# kotlin-compiler (into $AURORA_FFI_CACHE, default ~/.cache/aurora-ffi). Needs cargo, java, npm.
# AURORA_FFI_SKIP_VALGRIND=1 runs the dynamic C test without valgrind.
set -uo pipefail

FFI="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$FFI")"
cd "$ROOT" || exit 1
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LIB_DIR="$TARGET_DIR/debug"
# shellcheck source=SCRIPTDIR/../scripts/lib/jvm.sh
. "$ROOT/scripts/lib/jvm.sh"
CONFORMANCE="$ROOT/tests/conformance"
HOSTILE="$ROOT/tests/hostile"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/aurora-ffi-test.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
ko() { failed=$((failed + 1)); echo "FAILED: $*" >&2; }
step() { echo; echo "==> $*"; }

# Adds the "N passed, N failed" counts a test program printed (in file $1) to the totals.
count_from() {
    local line
    line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1)"
    if [ -z "$line" ]; then
        ko "$2 printed no result line"
        return
    fi
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
}

finish() {
    echo
    echo "ffi: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] && exit 0 || exit 1
}

# System packages (Debian): install only what is missing.
missing_pkgs=()
command -v gcc >/dev/null || missing_pkgs+=(gcc)
command -v g++ >/dev/null || missing_pkgs+=(g++)
command -v valgrind >/dev/null || missing_pkgs+=(valgrind)
[ -f /usr/share/java/jna.jar ] || missing_pkgs+=(libjna-java)
if [ ${#missing_pkgs[@]} -gt 0 ]; then
    step "apt-get install ${missing_pkgs[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing_pkgs[@]}"; } \
        >/dev/null || ko "apt-get install ${missing_pkgs[*]}"
fi

# The workspace build with the tests' feature set: after scripts/test-all.sh's `cargo test`, this
# only links (a `-p aurora-ffi` build would resolve features apart and rebuild everything).
step "cargo build --workspace --features aurora-ffi/cli (library + uniffi-bindgen + aurora-header)"
if ! cargo build --workspace --lib --bins --tests --features aurora-ffi/cli; then
    ko "cargo build"
    finish
fi
SO="$LIB_DIR/libaurora_ffi.so"
A="$LIB_DIR/libaurora_ffi.a"

step "generated bindings and header are current"
GEN="$WORK/gen"
"$LIB_DIR/uniffi-bindgen" generate --library "$SO" --language kotlin --out-dir "$GEN/kotlin" --no-format \
    && "$LIB_DIR/uniffi-bindgen" generate --library "$SO" --language swift --out-dir "$GEN/swift" --no-format \
    && "$LIB_DIR/aurora-header" "$GEN/aurora.h" || ko "generating bindings"
# Hand-written files beside the generated ones (the Swift package manifest) are kept.
HAND_WRITTEN=(Package.swift)
if [ "${1:-}" = "--regenerate" ]; then
    rm -rf "$FFI/bindings/kotlin"
    find "$FFI/bindings/swift" -mindepth 1 -maxdepth 1 ! -name Package.swift -exec rm -rf {} +
    mkdir -p "$FFI/bindings" "$FFI/include"
    cp -r "$GEN/kotlin" "$GEN/swift" "$FFI/bindings/"
    cp "$GEN/aurora.h" "$FFI/include/aurora.h"
    echo "regenerated ffi/bindings/ and ffi/include/aurora.h"
fi
for pair in "bindings/kotlin:kotlin" "bindings/swift:swift" "include/aurora.h:aurora.h"; do
    mine="$FFI/${pair%%:*}"
    fresh="$GEN/${pair##*:}"
    if diff -ru "${HAND_WRITTEN[@]/#/--exclude=}" "$mine" "$fresh" > "$WORK/diff.txt" 2>&1; then
        ok "ffi/${pair%%:*} is current"
    else
        head -40 "$WORK/diff.txt" >&2
        ko "ffi/${pair%%:*} is stale: run ffi/test.sh --regenerate and commit the result"
    fi
done

step "Swift: the generated C header and modulemap compile (no Swift compiler here)"
SWIFT="$FFI/bindings/swift"
printf '#include "AuroraFFIFFI.h"\nint main(void) { return 0; }\n' > "$WORK/swift_header.c"
if gcc -std=c11 -Wall -Werror -D_Nullable= -D_Nonnull= -I "$SWIFT" -c "$WORK/swift_header.c" -o "$WORK/swift_header.o"; then
    ok "AuroraFFIFFI.h compiles"
else
    ko "AuroraFFIFFI.h does not compile"
fi
if grep -q '^module AuroraFFIFFI ' "$SWIFT/AuroraFFIFFI.modulemap" \
    && grep -q 'header "AuroraFFIFFI.h"' "$SWIFT/AuroraFFIFFI.modulemap" \
    && grep -q '^import AuroraFFIFFI$' "$SWIFT/AuroraFFI.swift"; then
    ok "modulemap names the header and the Swift module imports it"
else
    ko "modulemap/Swift module mismatch"
fi
grep -oE '\b(uniffi|ffi)_aurora_ffi_[A-Za-z0-9_]+' "$SWIFT/AuroraFFIFFI.h" | sort -u > "$WORK/swift_syms.txt"
nm -D --defined-only "$SO" | awk '{print $3}' | sort -u > "$WORK/so_syms.txt"
missing="$(comm -23 "$WORK/swift_syms.txt" "$WORK/so_syms.txt")"
if [ -s "$WORK/swift_syms.txt" ] && [ -z "$missing" ]; then
    ok "all $(wc -l < "$WORK/swift_syms.txt") symbols of the Swift header are exported by libaurora_ffi.so"
else
    ko "symbols in the Swift header missing from the library: $missing"
fi

step "C header: compiles as C and C++"
printf '#include "aurora.h"\nint main(void) { return aurora_version() == 0; }\n' > "$WORK/h.c"
gcc -std=c99 -Wall -Wextra -Werror -pedantic -I "$FFI/include" -c "$WORK/h.c" -o "$WORK/h.o" && ok "aurora.h as C99" || ko "aurora.h as C99"
g++ -std=c++11 -Wall -Wextra -Werror -I "$FFI/include" -x c++ -c "$WORK/h.c" -o "$WORK/hpp.o" && ok "aurora.h as C++" || ko "aurora.h as C++"

step "C tests"
CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -I "$FFI/include")
if gcc "${CFLAGS[@]}" "$FFI/tests/c/test_aurora.c" -o "$WORK/test_dyn" -L "$LIB_DIR" -laurora_ffi -lpthread \
    -Wl,-rpath,"$LIB_DIR"; then
    if [ "${AURORA_FFI_SKIP_VALGRIND:-}" = "1" ]; then
        echo "-- dynamic (valgrind skipped)"
        "$WORK/test_dyn" "$CONFORMANCE" "$HOSTILE" 2>&1 | tee "$WORK/c_dyn.txt"
        rc=${PIPESTATUS[0]}
    else
        echo "-- dynamic, under valgrind (hostile cases: outcomes only, texts under 64 KiB)"
        AURORA_UNDER_VALGRIND=1 valgrind --leak-check=full --error-exitcode=99 --suppressions="$FFI/tests/c/valgrind.supp" -q \
            "$WORK/test_dyn" "$CONFORMANCE" "$HOSTILE" 2>&1 | tee "$WORK/c_dyn.txt"
        rc=${PIPESTATUS[0]}
    fi
    count_from "$WORK/c_dyn.txt" "C test (dynamic)"
    [ "$rc" -eq 0 ] && ok "C test (dynamic) exit status" || ko "C test (dynamic) exited $rc (99: valgrind found errors)"
else
    ko "C test (dynamic) does not build"
fi
# The static library's extra system libraries (`rustc --print native-static-libs` on Linux).
if gcc "${CFLAGS[@]}" "$FFI/tests/c/test_aurora.c" -o "$WORK/test_static" "$A" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc; then
    echo "-- static (hostile cases with their time and memory bounds)"
    "$WORK/test_static" "$CONFORMANCE" "$HOSTILE" 2>&1 | tee "$WORK/c_static.txt"
    rc=${PIPESTATUS[0]}
    count_from "$WORK/c_static.txt" "C test (static)"
    [ "$rc" -eq 0 ] && ok "C test (static) exit status" || ko "C test (static) exited $rc"
else
    ko "C test (static) does not build"
fi

step "Kotlin tests (kotlinc $KOTLIN_VERSION, JNA, JVM)"
BJAR=""
if jvm_setup; then
    # The generated bindings compile once per content (they are large); the test compiles against them.
    BJAR="$(kotlin_bindings_jar "$FFI/bindings/kotlin/aurora/aurora_ffi.kt")" || ko "kotlinc generated bindings"
else
    ko "installing libjna-java / kotlin-compiler"
fi
CP="${JNA_JAR:-}:${COROUTINES_JAR:-}"
echo "-- kotlinc tests/kotlin/AuroraTest.kt"
if [ -n "$BJAR" ] && "$KOTLINC" -cp "$CP:$BJAR" "$FFI/tests/kotlin/AuroraTest.kt" -d "$WORK/test.jar"; then
    java -Djna.library.path="$LIB_DIR" -cp "$WORK/test.jar:$BJAR:$CP:$STDLIB_JAR" AuroraTestKt "$CONFORMANCE" "$HOSTILE" \
        2>&1 | tee "$WORK/kotlin.txt"
    rc=${PIPESTATUS[0]}
    count_from "$WORK/kotlin.txt" "Kotlin test"
    [ "$rc" -eq 0 ] && ok "Kotlin test exit status" || ko "Kotlin test exited $rc"
else
    ko "Kotlin test does not compile"
fi

finish
