// CRC-32 (IEEE 802.3 polynomial, reflected, initial and final value 0xFFFFFFFF): the checksum
// zlib's crc32() computes, written here because the aarch64 cross build has no zlib.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ubp::device {

// CRC-32 of `bytes` bytes at `data`. Continue a running checksum by passing the previous result
// as `crc` (start with 0), exactly like zlib's crc32(crc, data, bytes).
uint32_t crc32(const void* data, size_t bytes, uint32_t crc = 0);

}  // namespace ubp::device
