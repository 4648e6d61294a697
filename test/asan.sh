#!/usr/bin/env bash
# Runs the native core and the addon under AddressSanitizer + UBSan:
#   1. builds a sanitized copy of the addon in a private directory (the normal
#      build in build/ is never touched, so other runs can go on),
#   2. builds and runs the standalone core test executable with SANITIZE=1,
#   3. runs the test files matching the filters (default: native e2e) under
#      node with libasan preloaded and WEFT_ADDON_DIR pointing at the
#      sanitized build (node itself is not instrumented; its leaks are by
#      design, so leak detection is off there).
# Exits non-zero if any step or test fails.
#
#   bash test/asan.sh              native and end-to-end tests
#   bash test/asan.sh native       only test files whose path contains "native"
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
filters=("$@")
[[ ${#filters[@]} -eq 0 ]] && filters=(native e2e)

status=0
work="$(mktemp -d /tmp/weft-asan-XXXXXX)"
chmod 755 "$work"  # the unprivileged e2e test loads the addon as nobody
step() { echo; echo "=== asan.sh: $*"; }
fail() { echo "=== asan.sh: FAILED: $*" >&2; status=1; }
finish() {
  rm -rf "$work"
  if [[ $status -eq 0 ]]; then echo "=== asan.sh: PASS"; else echo "=== asan.sh: FAIL" >&2; fi
  exit $status
}
trap finish EXIT

libasan="$(gcc -print-file-name=libasan.so)"
if [[ ! -e "$libasan" ]]; then
  fail "libasan.so not found (gcc -print-file-name=libasan.so gave '$libasan')"
  exit
fi

step "building the addon with -fsanitize=address,undefined in $work"
cp -r native binding.gyp package.json "$work/" && ln -s "$root/node_modules" "$work/node_modules"
(cd "$work" && WEFT_SANITIZE=1 npm run --silent build:native) || { fail "sanitized addon build"; exit; }

step "building and running the core test executable with SANITIZE=1"
exe="$(SANITIZE=1 bash native/test/build.sh | tail -n 1)" || { fail "sanitized core test build"; exit; }
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$exe" || fail "core test executable"

step "compiling TypeScript"
npx tsc -p tsconfig.json || { fail "tsc"; exit; }

step "running test files matching: ${filters[*]} (LD_PRELOAD=$libasan, WEFT_ADDON_DIR=$work)"
WEFT_ADDON_DIR="$work" SANITIZE=1 LD_PRELOAD="$libasan" ASAN_OPTIONS=detect_leaks=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  node dist/test/run.js "${filters[@]}" || fail "node tests (${filters[*]})"
