// Internet checksum (RFC 1071) and its incremental update (RFC 1624).
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft {

// Adds `len` bytes at `data` to a 32-bit running sum of 16-bit big-endian words.
// An odd trailing byte is padded with zero, as the RFC says.
// Uses AVX2 where the CPU has it (from 128 bytes on), else a portable loop.
uint32_t ChecksumAdd(uint32_t sum, const uint8_t* data, size_t len);

// The portable loop alone, whatever the CPU (the tests compare the two).
uint32_t ChecksumAddPortable(uint32_t sum, const uint8_t* data, size_t len);

// Folds a running sum into 16 bits, not inverted.
inline uint16_t ChecksumFold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// The checksum field value for `data` (inverted fold).
inline uint16_t Checksum(const uint8_t* data, size_t len) {
  return static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(0, data, len)));
}

// RFC 1624 eqn. 3: the new checksum after one 16-bit word changed from
// `old_word` to `new_word`. All values are host-order numbers of the
// big-endian words.
inline uint16_t ChecksumUpdate16(uint16_t check, uint16_t old_word, uint16_t new_word) {
  uint32_t sum = static_cast<uint16_t>(~check);
  sum += static_cast<uint16_t>(~old_word);
  sum += new_word;
  return static_cast<uint16_t>(~ChecksumFold(sum));
}

}  // namespace weft
