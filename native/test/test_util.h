// Minimal check macros for the standalone core tests: a failed check prints
// where and what, and the run continues so that one report lists them all.
#pragma once

#include <cstdio>

#include "../core/checksum.h"
#include "../core/codec.h"
#include "../core/packet.h"
#include "../core/table.h"

namespace weft::test {
extern int g_checks;
extern int g_failures;
}  // namespace weft::test

#define CHECK(cond)                                                                 \
  do {                                                                              \
    ::weft::test::g_checks++;                                                       \
    if (!(cond)) {                                                                  \
      ::weft::test::g_failures++;                                                   \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                               \
  } while (0)
