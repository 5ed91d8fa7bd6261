// Table-driven CRC-32, one byte per step. Checksumming model files and the runner binary is far
// from any hot loop, so the simple byte-wise table is fast enough (hundreds of MB/s).
#include "ubp/device/crc32.h"

#include <array>

namespace ubp::device {
namespace {

// 0xEDB88320 is the IEEE polynomial 0x04C11DB7 bit-reversed: the CRC is computed on
// least-significant-bit-first bytes, as zlib, gzip, PNG and Ethernet do.
constexpr uint32_t kReflectedPolynomial = 0xEDB88320u;

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t remainder = byte;
    for (int bit = 0; bit < 8; ++bit) {
      remainder = (remainder & 1u) ? (remainder >> 1) ^ kReflectedPolynomial : remainder >> 1;
    }
    table[byte] = remainder;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = make_table();

}  // namespace

uint32_t crc32(const void* data, size_t bytes, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  // The running value is kept inverted between calls, so continuing from a previous result
  // first undoes its final inversion.
  uint32_t state = ~crc;
  for (size_t i = 0; i < bytes; ++i) state = kTable[(state ^ p[i]) & 0xFFu] ^ (state >> 8);
  return ~state;
}

}  // namespace ubp::device
