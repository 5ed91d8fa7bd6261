// Reader for the idx format of (Fashion-)MNIST, gzip-compressed or plain, without LibTorch so
// it compiles fast and can be tested on its own.
//
// Format: 2 zero bytes, a type byte (only 0x08, unsigned byte, is accepted), the number of
// dimensions, then one big-endian uint32 per dimension, then the data in C order. A file is
// refused with an IdxError naming it when it cannot be opened, is not valid gzip, has a wrong
// magic, a different number of dimensions than expected, fewer data bytes than its header
// announces (truncated) or bytes after the data.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ubp::data {

class IdxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct IdxArray {
  std::vector<int64_t> dims;   // e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<uint8_t> values; // product(dims) bytes, C order

  int64_t count() const { return dims.empty() ? 0 : dims[0]; }
};

// Reads an unsigned-byte idx file with `expected_ndim` dimensions (3 for images, 1 for
// labels). Files are opened through zlib, which reads gzip and plain files alike.
IdxArray read_idx(const std::string& path, int expected_ndim);

// Encodes an unsigned-byte idx file (uncompressed bytes); for tests and tools.
std::string encode_idx(const std::vector<int64_t>& dims, const std::vector<uint8_t>& values);

// Writes `bytes` gzip-compressed to `path`; throws IdxError naming the file on failure.
void write_gzip(const std::string& path, const std::string& bytes);

}  // namespace ubp::data
