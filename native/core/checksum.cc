#include "checksum.h"

#include <cstring>

namespace weft {

// One's-complement sums are byte-order independent up to a final swap
// (RFC 1071 §2(B)), so the loop adds native 32-bit words into a 64-bit
// accumulator and swaps the folded result to big-endian word order once.
uint32_t ChecksumAdd(uint32_t sum, const uint8_t* data, size_t len) {
  uint64_t acc = 0;
  while (len >= 16) {
    uint32_t w[4];
    std::memcpy(w, data, 16);
    acc += static_cast<uint64_t>(w[0]) + w[1] + w[2] + w[3];
    data += 16;
    len -= 16;
  }
  while (len >= 4) {
    uint32_t w;
    std::memcpy(&w, data, 4);
    acc += w;
    data += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    std::memcpy(&w, data, 2);
    acc += w;
    data += 2;
    len -= 2;
  }
  if (len == 1) {
    const uint8_t pad[2] = {data[0], 0};
    uint16_t w;
    std::memcpy(&w, pad, 2);
    acc += w;
  }
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  uint8_t bytes[2];
  const uint16_t native = static_cast<uint16_t>(acc);
  std::memcpy(bytes, &native, 2);
  const uint32_t be = (static_cast<uint32_t>(bytes[0]) << 8) | bytes[1];
  return sum + be;
}

}  // namespace weft
