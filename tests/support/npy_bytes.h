// Builds .npy files byte by byte from the format's documentation (as numpy.save writes them),
// so readers are checked against the format and not against our own writer.
#pragma once

#include <string>
#include <vector>

namespace ubp::testing {

// A file of format version `major` (1: 2-byte header length, 2 and 3: 4-byte) with the given
// header dict, padded to 64 bytes, followed by `data`.
inline std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  const size_t n = header.size();
  const int length_bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < length_bytes; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

template <typename T>
std::string raw_bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

}  // namespace ubp::testing
