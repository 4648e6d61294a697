#include "checksum.h"

#include <cstring>

namespace weft {

namespace {

// a + b with the carry out added back in (one's-complement addition).
inline uint64_t AddCarry(uint64_t a, uint64_t b) {
  uint64_t r;
  const bool carry = __builtin_add_overflow(a, b, &r);
  return r + carry;
}

}  // namespace

// One's-complement sums can be taken over words of any width with
// end-around carry and are byte-order independent up to a final swap
// (RFC 1071 §2). So the loop adds native 64-bit words in four independent
// lanes (for instruction-level parallelism), folds to 16 bits and swaps the
// result into big-endian word order once.
uint32_t ChecksumAdd(uint32_t sum, const uint8_t* data, size_t len) {
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
  uint64_t acc = AddCarry(AddCarry(a0, a1), AddCarry(AddCarry(a2, a3), tail));
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

}  // namespace weft
