#include "io/npy.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <regex>
#include <vector>

namespace ubp::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLength = 6;

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw NpyError(path + ": " + why);
}

uint32_t little_endian(const unsigned char* bytes, int count) {
  uint32_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False,
// 'shape': (3, 4), }. We only need three fields, so targeted patterns are enough; anything
// they do not match is reported with the header text itself.
struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

Header parse_header(const std::string& path, const std::string& text) {
  Header header;
  std::smatch match;
  if (!std::regex_search(text, match, std::regex(R"('descr'\s*:\s*'([^']*)')"))) {
    refuse(path, "damaged .npy header, no 'descr' field: " + text);
  }
  header.descr = match[1];
  if (!std::regex_search(text, match, std::regex(R"('fortran_order'\s*:\s*(True|False))"))) {
    refuse(path, "damaged .npy header, no 'fortran_order' field: " + text);
  }
  header.fortran_order = match[1] == "True";
  if (!std::regex_search(text, match, std::regex(R"('shape'\s*:\s*\(([^)]*)\))"))) {
    refuse(path, "damaged .npy header, no 'shape' field: " + text);
  }
  const std::string dims = match[1];
  const std::regex number(R"(\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number); it != std::sregex_iterator(); ++it) {
    header.shape.push_back(std::stoll(it->str()));
  }
  return header;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

algorithms::Matrix read_npy_matrix(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) refuse(path, "cannot open the file (" + std::string(std::strerror(errno)) + ")");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  if (bytes.size() < kMagicLength + 4 || bytes.compare(0, kMagicLength, kMagic, kMagicLength) != 0) {
    refuse(path, "not a NumPy .npy file (it does not start with \\x93NUMPY); save the matrix with numpy.save");
  }
  const auto* raw = reinterpret_cast<const unsigned char*>(bytes.data());
  const int major = raw[6];
  size_t header_length = 0, header_start = 0;
  if (major == 1) {
    header_length = little_endian(raw + 8, 2);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) refuse(path, "damaged .npy file: truncated header");
    header_length = little_endian(raw + 8, 4);
    header_start = 12;
  } else {
    refuse(path, "unsupported .npy format version " + std::to_string(major) + " (accepted: 1, 2, 3)");
  }
  if (header_start + header_length > bytes.size()) {
    refuse(path, "damaged .npy file: the header says " + std::to_string(header_length) +
                     " bytes but the file ends first");
  }
  const Header header = parse_header(path, bytes.substr(header_start, header_length));

  size_t item_size = 0;
  if (header.descr == "<f4") {
    item_size = 4;
  } else if (header.descr == "<f8") {
    item_size = 8;
  } else {
    refuse(path, "dtype '" + header.descr +
                     "' is not supported (accepted: little-endian float32 '<f4' or float64 '<f8'); "
                     "convert with array.astype(numpy.float32)");
  }
  if (header.fortran_order) {
    refuse(path, "the array is in Fortran order (accepted: C order); save numpy.ascontiguousarray(array)");
  }
  if (header.shape.size() != 2) {
    refuse(path, "the array has shape " + shape_text(header.shape) +
                     " (accepted: 2-D, rows x cols; reshape a k x k convolution to Cout x Cin*k*k)");
  }
  const int64_t rows = header.shape[0], cols = header.shape[1];
  constexpr int64_t kMaxDim = int64_t{1} << 30;
  if (rows > kMaxDim || cols > kMaxDim || (cols > 0 && rows > std::numeric_limits<int64_t>::max() / 8 / cols)) {
    refuse(path, "the array shape " + shape_text(header.shape) + " is too large");
  }
  const size_t data_start = header_start + header_length;
  const size_t expected = static_cast<size_t>(rows * cols) * item_size;
  const size_t found = bytes.size() - data_start;
  if (found != expected) {
    refuse(path, "damaged .npy file: shape " + shape_text(header.shape) + " of " + header.descr + " needs " +
                     std::to_string(expected) + " data bytes, the file has " + std::to_string(found));
  }

  algorithms::Matrix matrix(rows, cols);
  const char* data = bytes.data() + data_start;
  for (size_t i = 0; i < matrix.values.size(); ++i) {
    if (item_size == 4) {
      std::memcpy(&matrix.values[i], data + 4 * i, 4);
    } else {
      double value;
      std::memcpy(&value, data + 8 * i, 8);
      matrix.values[i] = static_cast<float>(value);
    }
  }
  return matrix;
}

void write_npy_matrix(const std::string& path, const algorithms::Matrix& matrix) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(matrix.rows) +
                       ", " + std::to_string(matrix.cols) + "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' is padded to a multiple of 64.
  const size_t unpadded = kMagicLength + 4 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw NpyError(path + ": cannot create the file (" + std::string(std::strerror(errno)) + ")");
  out.write(kMagic, kMagicLength);
  const unsigned char version_and_length[4] = {1, 0, static_cast<unsigned char>(header.size() & 0xff),
                                               static_cast<unsigned char>(header.size() >> 8)};
  out.write(reinterpret_cast<const char*>(version_and_length), 4);
  out << header;
  out.write(reinterpret_cast<const char*>(matrix.values.data()),
            static_cast<std::streamsize>(matrix.values.size() * sizeof(float)));
  if (!out) throw NpyError(path + ": writing failed (disk full?)");
}

}  // namespace ubp::io
