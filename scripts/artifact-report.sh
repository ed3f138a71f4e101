#!/usr/bin/env bash
# Prints each artifact of dist/ with its size and, for the native library inside it, the newest
# GLIBC symbol version it needs (`objdump -T`): the numbers docs/RELEASING.md records.
#
#   scripts/artifact-report.sh [DIST]     # default: dist
set -euo pipefail
DIST=${1:-dist}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The newest GLIBC_x.y among the dynamic symbols of the ELF files given ("-" when none).
newest_glibc() {
  { objdump -T "$@" 2>/dev/null || true; } | grep -o 'GLIBC_[0-9.]*[0-9]' | sort -uV | tail -1 | grep . || echo "-"
}

printf '%-52s %10s  %s\n' artifact bytes "newest glibc symbol (native library)"
find "$DIST" -type f | sort | while read -r f; do
  x="$WORK/$(basename "$f")"
  mkdir -p "$x"
  case "$f" in
    *.whl | *.jar) python3 -m zipfile -e "$f" "$x" ;;
    *.tgz | *.tar.gz) tar xzf "$f" -C "$x" ;;
  esac
  mapfile -t libs < <(find "$x" -type f \( -name '*.so' -o -name '*.node' \))
  glibc="-"
  [ ${#libs[@]} -gt 0 ] && glibc="$(newest_glibc "${libs[@]}") ($(for l in "${libs[@]}"; do printf '%s ' "${l##*/}"; done))"
  printf '%-52s %10d  %s\n' "${f#"$DIST"/}" "$(wc -c < "$f")" "$glibc"
done
