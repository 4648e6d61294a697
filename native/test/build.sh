#!/usr/bin/env bash
# Builds the standalone core test executable (native/core + native/test, no
# Node, no N-API) into native/test/out/.
#
#   native/test/build.sh               -> native/test/out/core_test       (-O2)
#   SANITIZE=1 native/test/build.sh    -> native/test/out/core_test-asan  (ASan + UBSan)
#
# Prints the path of the executable on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
core="$here/../core"
out="$here/out"
mkdir -p "$out"

flags=(-std=c++20 -Wall -Wextra -Werror -pthread)
if [[ "${SANITIZE:-0}" == "1" ]]; then
  flags+=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1)
  exe="$out/core_test-asan"
else
  flags+=(-O2)
  exe="$out/core_test"
fi

# The hot-path sources with no device or socket code: what the tests exercise.
sources=("$core/checksum.cc" "$core/codec.cc" "$core/counters.cc" "$core/offload.cc" "$core/table.cc"
         "$core/encap.cc" "$core/decap.cc"
         "$here/codec_test.cc" "$here/offload_test.cc" "$here/pipeline6_test.cc" "$here/core_test.cc")

${CXX:-g++} "${flags[@]}" -o "$exe.tmp" "${sources[@]}"
mv "$exe.tmp" "$exe"
echo "$exe"
