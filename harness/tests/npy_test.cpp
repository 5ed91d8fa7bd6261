// .npy files are built byte by byte here from the format's documentation, as numpy.save
// writes them, so the reader is checked against the format rather than against its own writer.
#include "io/npy.h"

#include <gtest/gtest.h>

#include <cstring>

#include "support/npy_bytes.h"
#include "support/temp_dir.h"

namespace ubp::io {
namespace {

using ubp::testing::npy_bytes;
using ubp::testing::TempDir;

template <typename T>
std::string raw(const std::vector<T>& values) {
  return ubp::testing::raw_bytes(values);
}

std::string error_of(const std::string& path) {
  try {
    read_npy_matrix(path);
  } catch (const NpyError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(NpyReader, ReadsAFloat32MatrixInCOrder) {
  TempDir dir;
  const auto path = dir.write("w.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                                 raw(std::vector<float>{1, 2, 3, 4, 5, -6.5f})));
  const auto m = read_npy_matrix(path);
  ASSERT_EQ(m.rows, 2);
  ASSERT_EQ(m.cols, 3);
  EXPECT_EQ(m(0, 2), 3.0f);
  EXPECT_EQ(m(1, 0), 4.0f);
  EXPECT_EQ(m(1, 2), -6.5f);
}

TEST(NpyReader, ReadsFloat64AndTheLongHeaderVersions) {
  TempDir dir;
  for (int major : {1, 2, 3}) {
    const auto path = dir.write("w" + std::to_string(major) + ".npy",
                                npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }",
                                          raw(std::vector<double>{0.25, -1e10}), major));
    const auto m = read_npy_matrix(path);
    ASSERT_EQ(m.rows, 1) << major;
    EXPECT_EQ(m(0, 0), 0.25f);
    EXPECT_EQ(m(0, 1), -1e10f);
  }
}

TEST(NpyReader, WritesFilesItReadsBack) {
  TempDir dir;
  algorithms::Matrix m(3, 5);
  for (size_t i = 0; i < m.values.size(); ++i) m.values[i] = static_cast<float>(i) * 0.5f - 2;
  write_npy_matrix(dir.file("m.npy"), m);
  const auto back = read_npy_matrix(dir.file("m.npy"));
  EXPECT_EQ(back.rows, 3);
  EXPECT_EQ(back.cols, 5);
  EXPECT_EQ(back.values, m.values);
  EXPECT_EQ(ubp::testing::read_bytes(dir.file("m.npy")).size() % 16, (64 + 15 * 4) % 16u)
      << "the header is padded to 64 bytes as numpy does";
}

TEST(NpyReader, RefusesOtherDtypesRanksOrdersAndDamagedFilesNamingTheFile) {
  TempDir dir;
  struct Case {
    std::string name, bytes, expected;
  };
  const std::string f4x4 = raw(std::vector<float>(4, 1.0f));
  const std::vector<Case> cases = {
      {"int.npy", npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", f4x4),
       "dtype '<i4' is not supported (accepted: little-endian float32 '<f4' or float64 '<f8')"},
      {"big.npy", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", f4x4),
       "dtype '>f4' is not supported"},
      {"half.npy", npy_bytes("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 4), }", f4x4),
       "dtype '<f2'"},
      {"rank1.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f4x4),
       "shape (4,) (accepted: 2-D"},
      {"rank3.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", f4x4),
       "shape (1, 2, 2) (accepted: 2-D"},
      {"fortran.npy", npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f4x4),
       "Fortran order"},
      {"short.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", f4x4.substr(0, 10)),
       "damaged .npy file: shape (2, 2) of <f4 needs 16 data bytes, the file has 10"},
      {"long.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", f4x4 + "xx"),
       "the file has 18"},
      {"text.npy", "rows,cols\n1,2\n", "not a NumPy .npy file"},
      {"empty.npy", "", "not a NumPy .npy file"},
      {"cut-header.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", "").substr(0, 30),
       "the header says"},
      {"no-shape.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, }", f4x4), "no 'shape' field"},
      {"version9.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", f4x4, 9),
       "unsupported .npy format version 9"},
  };
  for (const auto& c : cases) {
    const auto path = dir.write(c.name, c.bytes);
    const std::string message = error_of(path);
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << c.name << ": " << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.name << ": " << message;
  }
  EXPECT_NE(error_of(dir.file("missing.npy")).find("cannot open the .npy file"), std::string::npos);
}

// Headers a hand-made or hostile file can hold: each is a clear NpyError naming the file (they
// crashed the regex-based reader with SIGSEGV, or were silently misread).
TEST(NpyReader, RefusesHostileHeadersClearly) {
  TempDir dir;
  const std::string f4x4 = raw(std::vector<float>(4, 1.0f));
  struct Case {
    std::string name, bytes, expected;
  };
  const std::string long_descr = "{'descr': '" + std::string(100000, 'f') + "', 'fortran_order': False, 'shape': (2, 2), }";
  const std::vector<Case> cases = {
      {"minus.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-4, 4), }", f4x4),
       "a negative dimension"},
      {"twenty-digits.npy",
       npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 2), }", f4x4),
       "the dimension 99999999999999999999 does not fit in 64 bits"},
      {"long-dimension.npy",
       npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::string(60000, '7') + ", 2), }", f4x4),
       "does not fit in 64 bits"},
      {"long-descr.npy", npy_bytes(long_descr, f4x4, 2), "bytes long (accepted: up to 65536)"},
      {"unknown-key.npy", npy_bytes("{'descr': '<f4', 'extra': 1, 'fortran_order': False, 'shape': (2, 2), }", f4x4),
       "unexpected key 'extra'"},
      {"unclosed.npy", npy_bytes("{'descr': '<f4, 'fortran_order': False, 'shape': (2, 2)", f4x4), "damaged .npy header"},
      {"shape-text.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", f4x4),
       "expected a dimension"},
  };
  for (const auto& c : cases) {
    const auto path = dir.write(c.name, c.bytes);
    const std::string message = error_of(path);
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << c.name << ": " << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.name << ": " << message;
    EXPECT_LT(message.size(), 600u) << c.name << ": the message quotes only an excerpt";
  }
  EXPECT_NE(error_of("/dev/zero").find("character device"), std::string::npos);
}

}  // namespace
}  // namespace ubp::io
