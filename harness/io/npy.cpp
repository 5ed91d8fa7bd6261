#include "io/npy.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string_view>
#include <vector>

#include "ubp/support/atomic_file.h"
#include "ubp/support/read_file.h"
#include "ubp/support/text.h"

namespace ubp::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLength = 6;
// A 32768 x 32768 float32 matrix is 4 GiB; nothing the selectors run on comes close.
constexpr size_t kMaxFileBytes = size_t{8} << 30;

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw NpyError(path + ": " + why);
}

uint32_t little_endian(const unsigned char* bytes, int count) {
  uint32_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False,
// 'shape': (3, 4), }, read by a small hand-written parser (no std::regex: libstdc++'s recurses
// once per character, and a header can be 4 GB long in format 2). Every mistake names what
// was expected and quotes a short excerpt.
struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// numpy itself refuses headers over 10 000 bytes by default; this leaves room for odd writers.
constexpr size_t kMaxHeaderBytes = 65536;
constexpr size_t kMaxDimensions = 32;  // numpy's own limit

class HeaderParser {
 public:
  HeaderParser(const std::string& path, const std::string& text) : path_(path), text_(text) {}

  Header parse() {
    Header header;
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      blanks();
      if (peek() == '}') break;
      const std::string key = quoted();
      blanks();
      expect(':');
      blanks();
      if (key == "descr") {
        header.descr = quoted();
        have_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        header.shape = tuple();
        have_shape = true;
      } else {
        fail("unexpected key '" + support::excerpt(key, 40) + "' (a .npy header has descr, fortran_order, shape)");
      }
      blanks();
      if (peek() == ',') ++at_;
    }
    ++at_;
    blanks();
    if (at_ != text_.size()) fail("text after the closing brace");
    if (!have_descr) fail("no 'descr' field");
    if (!have_order) fail("no 'fortran_order' field");
    if (!have_shape) fail("no 'shape' field");
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    refuse(path_, "damaged .npy header, " + what + " at byte " + std::to_string(at_) + " of: " +
                      support::excerpt(text_, 120));
  }
  char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }
  void blanks() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\t')) ++at_;
  }
  void expect(char c) {
    blanks();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++at_;
  }
  std::string quoted() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const size_t end = text_.find(quote, at_ + 1);
    if (end == std::string::npos) fail("a string that never ends");
    std::string out = text_.substr(at_ + 1, end - at_ - 1);
    at_ = end + 1;
    return out;
  }
  bool boolean() {
    if (text_.compare(at_, 4, "True") == 0) return at_ += 4, true;
    if (text_.compare(at_, 5, "False") == 0) return at_ += 5, false;
    fail("expected True or False");
  }
  std::vector<int64_t> tuple() {
    expect('(');
    std::vector<int64_t> out;
    while (true) {
      blanks();
      if (peek() == ')') break;
      if (peek() == '-') fail("a negative dimension");
      const size_t start = at_;
      while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
      int64_t value = 0;
      const auto status = support::parse_int64(std::string_view(text_).substr(start, at_ - start), value);
      if (status == support::ParseStatus::kOutOfRange) {
        fail("the dimension " + support::excerpt(text_.substr(start, at_ - start), 30) + " does not fit in 64 bits");
      }
      if (status != support::ParseStatus::kOk) fail("expected a dimension (digits)");
      if (out.size() == kMaxDimensions) fail("more than " + std::to_string(kMaxDimensions) + " dimensions");
      out.push_back(value);
      blanks();
      if (peek() == ',') {
        ++at_;
      } else if (peek() != ')') {
        fail("expected ',' or ')' in the shape");
      }
    }
    ++at_;
    return out;
  }

  const std::string& path_;
  const std::string& text_;
  size_t at_ = 0;
};

Header parse_header(const std::string& path, const std::string& text) { return HeaderParser(path, text).parse(); }

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

algorithms::Matrix read_npy_matrix(const std::string& path) {
  std::string bytes;
  try {
    // The whole file is what the matrix needs; the cap and the regular-file check keep a wrong
    // path (a device, a FIFO) from being read forever.
    bytes = support::read_file_bounded(path, kMaxFileBytes, ".npy file");
  } catch (const support::FileError& e) {
    throw NpyError(e.what());
  } catch (const std::bad_alloc&) {
    refuse(path, "not enough memory to read the file");
  }

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
  if (header_length > kMaxHeaderBytes) {
    refuse(path, "the header is " + std::to_string(header_length) + " bytes long (accepted: up to " +
                     std::to_string(kMaxHeaderBytes) + ")");
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
    refuse(path, "dtype '" + support::excerpt(header.descr, 40) +
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

  algorithms::Matrix matrix;
  try {
    matrix = algorithms::Matrix(rows, cols);
  } catch (const std::bad_alloc&) {
    refuse(path, "not enough memory for the " + shape_text(header.shape) + " matrix");
  }
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
  try {
    support::AtomicFile out(path);
    out.write(kMagic, kMagicLength);
    const unsigned char version_and_length[4] = {1, 0, static_cast<unsigned char>(header.size() & 0xff),
                                                 static_cast<unsigned char>(header.size() >> 8)};
    out.write(version_and_length, 4);
    out.write(header);
    out.write(matrix.values.data(), matrix.values.size() * sizeof(float));
    out.commit();
  } catch (const support::FileError& e) {
    throw NpyError(e.what());
  }
}

}  // namespace ubp::io
