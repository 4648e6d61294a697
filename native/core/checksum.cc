#include "checksum.h"

#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace weft {

namespace {

// a + b with the carry out added back in (one's-complement addition).
inline uint64_t AddCarry(uint64_t a, uint64_t b) {
  uint64_t r;
  const bool carry = __builtin_add_overflow(a, b, &r);
  return r + carry;
}

// One's-complement sums can be taken over words of any width with
// end-around carry and are byte-order independent up to a final swap
// (RFC 1071 §2). So the loops add native words, and Finish folds to 16 bits
// and swaps the result into big-endian word order once.

// Native 64-bit words in four independent lanes (for instruction-level
// parallelism); the unfolded 64-bit sum.
uint64_t Sum64(const uint8_t* data, size_t len) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  while (len >= 32) {
    uint64_t w[4];
    std::memcpy(w, data, 32);
    a0 = AddCarry(a0, w[0]);
    a1 = AddCarry(a1, w[1]);
    a2 = AddCarry(a2, w[2]);
    a3 = AddCarry(a3, w[3]);
    data += 32;
    len -= 32;
  }
  while (len >= 8) {
    uint64_t w;
    std::memcpy(&w, data, 8);
    a0 = AddCarry(a0, w);
    data += 8;
    len -= 8;
  }
  uint64_t tail = 0;
  if (len > 0) std::memcpy(&tail, data, len);  // zero-padded, native order
  return AddCarry(AddCarry(a0, a1), AddCarry(AddCarry(a2, a3), tail));
}

#if defined(__x86_64__)
// AVX2: 32-bit words zero-extended into 64-bit lanes, so no carry is lost
// and none needs handling in the loop (a lane overflows only after 2^32
// words); 64 bytes per iteration, the rest by Sum64. About three times the
// scalar loop's speed on a 64 KiB super-packet.
__attribute__((target("avx2"))) uint64_t Sum64Avx2(const uint8_t* data, size_t len) {
  const __m256i zero = _mm256_setzero_si256();
  __m256i lo = zero, hi = zero;
  while (len >= 64) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + 32));
    lo = _mm256_add_epi64(lo, _mm256_add_epi64(_mm256_unpacklo_epi32(a, zero), _mm256_unpacklo_epi32(b, zero)));
    hi = _mm256_add_epi64(hi, _mm256_add_epi64(_mm256_unpackhi_epi32(a, zero), _mm256_unpackhi_epi32(b, zero)));
    data += 64;
    len -= 64;
  }
  uint64_t l[4];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(l), _mm256_add_epi64(lo, hi));
  return AddCarry(AddCarry(AddCarry(l[0], l[1]), AddCarry(l[2], l[3])), Sum64(data, len));
}

const bool kHasAvx2 = [] {
  __builtin_cpu_init();  // a static initializer may run before libgcc's
  return __builtin_cpu_supports("avx2") != 0;
}();
#endif

uint32_t Finish(uint32_t sum, uint64_t acc) {
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  uint8_t bytes[2];
  const uint16_t native = static_cast<uint16_t>(acc);
  std::memcpy(bytes, &native, 2);
  const uint32_t be = (static_cast<uint32_t>(bytes[0]) << 8) | bytes[1];
  return sum + be;
}

}  // namespace

uint32_t ChecksumAdd(uint32_t sum, const uint8_t* data, size_t len) {
#if defined(__x86_64__)
  if (kHasAvx2 && len >= 128) return Finish(sum, Sum64Avx2(data, len));
#endif
  return Finish(sum, Sum64(data, len));
}

uint32_t ChecksumAddPortable(uint32_t sum, const uint8_t* data, size_t len) { return Finish(sum, Sum64(data, len)); }

}  // namespace weft
