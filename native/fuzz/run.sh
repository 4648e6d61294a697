#!/usr/bin/env bash
# Builds the libFuzzer harness (native/fuzz/fuzz_packets.cc + the core's
# packet pipelines and table) with clang, -fsanitize=fuzzer,address,undefined, replays the
# committed regression inputs (native/fuzz/regressions/), then fuzzes for a
# bounded time from a seed corpus extracted from the fixture captures.
#
#   FUZZ_SECONDS   fuzzing time (default 60)
#   WEFT_FIXTURES  the pcap fixtures (default test/fixtures in the repo)
#   FUZZ_WORK      work dir (default a new temp dir, removed unless something
#                  was found or FUZZ_KEEP=1)
#   CXX            clang++ (default clang++)
#
# Exit 0 when the regressions pass and the run found nothing; non-zero (and
# the crashing input kept under the work dir) otherwise. libFuzzer's final
# statistics (stat::number_of_executed_units, the last "cov: ft:" line) go to
# stderr as usual.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
core="$here/../core"
seconds="${FUZZ_SECONDS:-60}"
fixtures="${WEFT_FIXTURES:-$here/../../test/fixtures}"
work="${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/weft-fuzz.XXXXXX")}"
mkdir -p "$work/corpus" "$work/artifacts"
found=0
cleanup() {
  if [[ "$found" == "0" && "${FUZZ_KEEP:-0}" != "1" && -z "${FUZZ_WORK:-}" ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT

cxx="${CXX:-clang++}"
if ! command -v "$cxx" >/dev/null; then
  echo "run.sh: $cxx not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 3
fi
exe="$work/fuzz_packets"
# -fsanitize=fuzzer links libclang_rt.fuzzer from libclang-rt-14-dev (Debian 12).
"$cxx" -std=c++20 -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -o "$exe" "$core/checksum.cc" "$core/codec.cc" "$core/counters.cc" "$core/decap.cc" "$core/encap.cc" \
  "$core/offload.cc" "$core/table.cc" "$here/fuzz_packets.cc" "$here/fuzz_offload.cc"

# Inputs that once failed must pass (a plain run over files, no fuzzing).
regressions=("$here"/regressions/*)
if [[ -e "${regressions[0]}" ]]; then
  if ! "$exe" "${regressions[@]}" >"$work/regressions.log" 2>&1; then
    found=1
    cat "$work/regressions.log" >&2
    echo "run.sh: a regression input fails again (log: $work/regressions.log)" >&2
    exit 1
  fi
  echo "regressions: ${#regressions[@]} inputs pass"
fi

if [[ ! -d "$fixtures" ]]; then
  echo "run.sh: fixtures not found at $fixtures (set WEFT_FIXTURES)" >&2
  exit 3
fi
python3 "$here/seeds.py" "$fixtures" "$work/seeds"

# ASan's leak check stays on: a leak fails the run like a crash.
status=0
"$exe" -max_total_time="$seconds" -print_final_stats=1 -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "$work/seeds" || status=$?
if [[ "$status" != "0" ]]; then
  found=1
  echo "run.sh: the fuzzer failed (exit $status); inputs kept in $work/artifacts" >&2
  exit "$status"
fi
echo "fuzz: done, nothing found in ${seconds}s"
