# shellcheck shell=bash disable=SC2034 # the variables set here are for the scripts that source this file
# Sourced by ffi/test.sh, scripts/package.sh and scripts/test-packages.sh: the JVM toolchain they
# share. `jvm_setup` installs what is missing (Debian's libjna-java; npm's kotlin-compiler into
# $AURORA_FFI_CACHE, default ~/.cache/aurora-ffi) and sets KOTLINC, KOTLIN_LIB, JNA_JAR,
# COROUTINES_JAR and STDLIB_JAR. `kotlin_bindings_jar` compiles the generated bindings once per
# content (they are large: about a minute) and prints the cached jar.

KOTLIN_VERSION=2.4.20
AURORA_FFI_CACHE="${AURORA_FFI_CACHE:-$HOME/.cache/aurora-ffi}"

jvm_setup() {
    JNA_JAR=/usr/share/java/jna.jar
    if [ ! -f "$JNA_JAR" ]; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libjna-java; } \
            >/dev/null || return 1
    fi
    local home="$AURORA_FFI_CACHE/kotlin-$KOTLIN_VERSION/node_modules/kotlin-compiler"
    if [ ! -f "$home/lib/kotlin-compiler.jar" ]; then
        echo "installing npm kotlin-compiler@$KOTLIN_VERSION into $AURORA_FFI_CACHE" >&2
        mkdir -p "$AURORA_FFI_CACHE/kotlin-$KOTLIN_VERSION"
        (cd "$AURORA_FFI_CACHE/kotlin-$KOTLIN_VERSION" \
            && npm install --no-audit --no-fund --silent "kotlin-compiler@$KOTLIN_VERSION") >&2 || return 1
    fi
    chmod +x "$home"/bin/* 2>/dev/null || true
    KOTLINC="$home/bin/kotlinc"
    KOTLIN_LIB="$home/lib"
    COROUTINES_JAR="$KOTLIN_LIB/kotlinx-coroutines-core-jvm.jar"
    STDLIB_JAR="$KOTLIN_LIB/kotlin-stdlib.jar"
}

# kotlin_bindings_jar KT_FILE: compiles the generated Kotlin (cached by content) and prints the jar.
kotlin_bindings_jar() {
    local kt="$1" jar tmp
    jar="$AURORA_FFI_CACHE/aurora-bindings-$(cat "$kt" "$KOTLIN_LIB/../package.json" | sha256sum | cut -c1-16)-m.jar"
    if [ ! -f "$jar" ]; then
        echo "kotlinc $kt (cached as $jar)" >&2
        tmp="$(mktemp -d)"
        "$KOTLINC" -nowarn -module-name aurora -cp "$JNA_JAR:$COROUTINES_JAR" "$kt" -d "$tmp/bindings.jar" >&2 \
            && mv "$tmp/bindings.jar" "$jar"
        rm -rf "$tmp"
        [ -f "$jar" ] || return 1
    fi
    echo "$jar"
}
