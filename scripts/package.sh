#!/usr/bin/env bash
# Builds the installable artifacts of one target into dist/ (see docs/RELEASING.md):
#   dist/python/  aurora_db-<v>-cp39-abi3-manylinux_2_17_<arch>.whl and the sdist
#   dist/node/    aurora-db-<v>.tgz (main package) and aurora-db-<platform>-<v>.tgz (prebuilt addon)
#   dist/jvm/     aurora-<v>.jar (Kotlin bindings + libaurora_ffi at JNA's resource path), sources, pom
#   dist/c/       aurora-<v>-<os>-<arch>.tar.gz (include/, lib/ .so and .a, lib/pkgconfig/aurora.pc)
# All Rust code is compiled once, for one target triple and profile in one target directory. Linux
# targets link with zig against glibc 2.17 (manylinux2014), whatever the build machine's glibc.
#
#   scripts/package.sh                      # profile dist (optimized, no debug info), x86_64 Linux
#   scripts/package.sh --profile dev        # unoptimized: same files and layout, faster to build
#   scripts/package.sh --target aarch64-unknown-linux-gnu
#
# Needs cargo, python3, node and npm, a JDK. Installs maturin, ziglang, cargo-zigbuild and
# auditwheel into target/pkg-venv, and libjna-java + kotlin-compiler (scripts/lib/jvm.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=SCRIPTDIR/lib/jvm.sh
. scripts/lib/jvm.sh

PROFILE=dist
TARGET=x86_64-unknown-linux-gnu
GLIBC=2.17
MAVEN_GROUP=io.github.aurora-db
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="$2"; shift 2 ;;
    --target) TARGET="$2"; shift 2 ;;
    *) echo "usage: $0 [--profile dist|release|dev] [--target TRIPLE]" >&2; exit 2 ;;
  esac
done

VERSION=$(python3 scripts/check-version.py)
DIST="$ROOT/dist"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$TARGET_DIR/$TARGET/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
ARCH=${TARGET%%-*}
case "$TARGET" in
  *-linux-*) OS=linux LIB=libaurora_ffi.so STATIC=libaurora_ffi.a NODE_LIB=libaurora_node.so ;;
  *-apple-*) OS=macos LIB=libaurora_ffi.dylib STATIC=libaurora_ffi.a NODE_LIB=libaurora_node.dylib ;;
  *-windows-*) OS=windows LIB=aurora_ffi.dll STATIC=aurora_ffi.lib NODE_LIB=aurora_node.dll ;;
  *) echo "unsupported target $TARGET" >&2; exit 2 ;;
esac
# JNA's resource folder for this platform (com.sun.jna.Platform.RESOURCE_PREFIX).
JNA_ARCH=$(echo "$ARCH" | sed -e 's/^x86_64$/x86-64/' -e 's/^i686$/x86/')
JNA_OS=$(echo "$OS" | sed -e 's/^macos$/darwin/' -e 's/^windows$/win32/')
JNA_DIR="$JNA_OS-$JNA_ARCH"

started=$(date +%s)
stage() { printf '\n=== package: %s (%d s)\n' "$*" $(( $(date +%s) - started )); }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
rm -rf "$DIST"
mkdir -p "$DIST"/{python,node,jvm,c}

stage "build tools (target/pkg-venv: maturin, ziglang, cargo-zigbuild, auditwheel)"
VENV="$TARGET_DIR/pkg-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# cargo-zigbuild: the version maturin embeds, so both pass the same `-C linker` and their
# common dependencies are compiled once.
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
  maturin==1.16.0 ziglang==0.15.2 cargo-zigbuild==0.24.0 auditwheel==6.8.2
export PATH="$VENV/bin:$PATH"
ZIG_TARGET=$TARGET
CARGO_BUILD=(cargo build)
if [ "$OS" = linux ]; then
  ZIG_TARGET="$TARGET.$GLIBC"
  CARGO_BUILD=(cargo zigbuild)
  [[ "$TARGET" = *musl* ]] && ZIG_TARGET=$TARGET
fi

stage "python wheel + sdist (maturin, profile $PROFILE, $TARGET)"
MATURIN_ZIG=()
[ "$OS" = linux ] && MATURIN_ZIG=(--zig --compatibility manylinux2014)
[[ "$TARGET" = *musl* ]] && MATURIN_ZIG=(--zig --compatibility musllinux_1_2)
maturin build --quiet --manifest-path python/Cargo.toml --profile "$PROFILE" --target "$TARGET" \
  "${MATURIN_ZIG[@]}" --out "$DIST/python"
maturin sdist --manifest-path python/Cargo.toml --out "$DIST/python" >/dev/null
[ "$OS" = linux ] && auditwheel show "$DIST"/python/*.whl

stage "libaurora_ffi + the node addon (${CARGO_BUILD[*]}, profile $PROFILE, $ZIG_TARGET)"
"${CARGO_BUILD[@]}" --quiet --profile "$PROFILE" --target "$ZIG_TARGET" -p aurora-ffi -p aurora-node

stage "npm packages"
node node/scripts/package.js --addon "$OUT/$NODE_LIB" --target "$TARGET" --out "$DIST/node"

stage "C tarball"
C_NAME="aurora-$VERSION-$OS-$ARCH"
C_DIR="$WORK/$C_NAME"
mkdir -p "$C_DIR/include" "$C_DIR/lib/pkgconfig"
cp ffi/include/aurora.h "$C_DIR/include/"
cp "$OUT/$LIB" "$OUT/$STATIC" "$C_DIR/lib/"
# The system libraries a static link needs, as rustc reports them for this target, less libgcc_s
# (the C compiler driver adds libgcc itself, and -lgcc_s would break a fully static link).
echo "" > "$WORK/empty.rs"
LIBS_PRIVATE=$(rustc --target "$TARGET" --crate-type staticlib --print native-static-libs -o "$WORK/empty.a" \
  "$WORK/empty.rs" 2>&1 | sed -n 's/^note: native-static-libs: //p' | sed -e 's/-lgcc_s *//' -e 's/ *$//')
sed -e "s|@VERSION@|$VERSION|" -e "s|@LIBS_PRIVATE@|$LIBS_PRIVATE|" ffi/aurora.pc.in > "$C_DIR/lib/pkgconfig/aurora.pc"
TAR_FLAGS=()  # GNU tar: reproducible member order and owners
tar --version 2>/dev/null | grep -q GNU && TAR_FLAGS=(--sort=name --owner=0 --group=0 --numeric-owner)
tar -C "$WORK" "${TAR_FLAGS[@]}" -czf "$DIST/c/$C_NAME.tar.gz" "$C_NAME"

stage "jar (kotlinc $KOTLIN_VERSION)"
jvm_setup
BJAR=$(kotlin_bindings_jar ffi/bindings/kotlin/aurora/aurora_ffi.kt)
EXT=(ffi/bindings/kotlin-ext/aurora/*.kt)
"$KOTLINC" -nowarn -module-name aurora-coroutines -cp "$JNA_JAR:$COROUTINES_JAR:$BJAR" "${EXT[@]}" -d "$WORK/ext.jar"
JAR_DIR="$WORK/jar"
mkdir -p "$JAR_DIR/$JNA_DIR"
(cd "$JAR_DIR" && jar xf "$BJAR" && jar xf "$WORK/ext.jar" && rm META-INF/MANIFEST.MF)
cp "$OUT/$LIB" "$JAR_DIR/$JNA_DIR/"
printf 'Implementation-Title: aurora\nImplementation-Version: %s\nAutomatic-Module-Name: aurora\n' \
  "$VERSION" > "$WORK/manifest.txt"
jar --create --file "$DIST/jvm/aurora-$VERSION.jar" --manifest "$WORK/manifest.txt" -C "$JAR_DIR" .
jar --create --file "$DIST/jvm/aurora-$VERSION-sources.jar" -C ffi/bindings/kotlin aurora -C ffi/bindings/kotlin-ext aurora
# zip_cat ZIP MEMBER: prints one file of a zip archive (no unzip needed).
zip_cat() { python3 -c 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())' "$@"; }
manifest_version() { zip_cat "$1" META-INF/MANIFEST.MF | sed -n "s/^$2: *\([^[:space:]]*\).*/\1/p" | head -1; }
sed -e "s|@GROUP@|$MAVEN_GROUP|" -e "s|@VERSION@|$VERSION|" -e "s|@KOTLIN_VERSION@|$KOTLIN_VERSION|" \
  -e "s|@JNA_VERSION@|$(manifest_version "$JNA_JAR" Bundle-Version)|" \
  -e "s|@COROUTINES_VERSION@|$(zip_cat "$COROUTINES_JAR" META-INF/kotlinx_coroutines_core.version)|" \
  ffi/aurora.pom.in > "$DIST/jvm/aurora-$VERSION.pom"

stage "done"
scripts/artifact-report.sh "$DIST"
