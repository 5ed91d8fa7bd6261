// The idx reader on small files written here (gzip and plain), on corrupt ones, and on the
// real Debian Fashion-MNIST files when the package is installed.
#include "data/idx_reader.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/temp_dir.h"

namespace ubp::data {
namespace {

using ubp::testing::TempDir;

std::vector<uint8_t> iota_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 3);
  return v;
}

void expect_error_mentioning(const std::string& path, int ndim, const std::string& what) {
  try {
    read_idx(path, ndim);
    FAIL() << "no error for " << path;
  } catch (const IdxError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(IdxReader, ReadsGzipImagesAndLabels) {
  TempDir dir;
  const auto pixels = iota_bytes(3 * 4 * 5);
  const std::string images = dir.file("images.gz");
  write_gzip(images, encode_idx({3, 4, 5}, pixels));
  const IdxArray a = read_idx(images, 3);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(a.values, pixels);
  EXPECT_EQ(a.count(), 3);

  const std::string labels = dir.file("labels.gz");
  write_gzip(labels, encode_idx({3}, {0, 9, 4}));
  const IdxArray l = read_idx(labels, 1);
  EXPECT_EQ(l.dims, (std::vector<int64_t>{3}));
  EXPECT_EQ(l.values, (std::vector<uint8_t>{0, 9, 4}));
}

TEST(IdxReader, ReadsPlainUncompressedFiles) {
  TempDir dir;
  const std::string path = dir.write("labels-idx1-ubyte", encode_idx({2}, {5, 6}));
  EXPECT_EQ(read_idx(path, 1).values, (std::vector<uint8_t>{5, 6}));
}

TEST(IdxReader, ErrorsNameTheFile) {
  TempDir dir;
  expect_error_mentioning(dir.file("missing.gz"), 1, "cannot open");

  std::string bad = encode_idx({2}, {1, 2});
  bad[2] = 0x0d;  // float type instead of unsigned byte
  const std::string bad_magic = dir.file("bad_magic.gz");
  write_gzip(bad_magic, bad);
  expect_error_mentioning(bad_magic, 1, "bad magic");

  const std::string wrong_ndim = dir.file("wrong_ndim.gz");
  write_gzip(wrong_ndim, encode_idx({2}, {1, 2}));
  expect_error_mentioning(wrong_ndim, 3, "dimensions");

  std::string cut = encode_idx({4, 2, 2}, iota_bytes(16));
  cut.resize(cut.size() - 5);
  const std::string truncated = dir.file("truncated.gz");
  write_gzip(truncated, cut);
  expect_error_mentioning(truncated, 3, "truncated");

  const std::string header_cut = dir.file("header_cut.gz");
  write_gzip(header_cut, encode_idx({4, 2, 2}, {}).substr(0, 9));
  expect_error_mentioning(header_cut, 3, "truncated");

  const std::string trailing = dir.file("trailing.gz");
  write_gzip(trailing, encode_idx({2}, {1, 2}) + "x");
  expect_error_mentioning(trailing, 1, "after");

  // A real gzip stream whose compressed body is damaged.
  const std::string good = dir.file("good.gz");
  write_gzip(good, encode_idx({64, 8, 8}, iota_bytes(64 * 64)));
  std::string bytes = ubp::testing::read_bytes(good);
  for (size_t i = 12; i < bytes.size() - 8; i += 3) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  const std::string corrupt = dir.write("corrupt.gz", bytes);
  EXPECT_THROW(read_idx(corrupt, 3), IdxError);
  expect_error_mentioning(corrupt, 3, "");
}

// A few bytes announcing 60000 x 1024 x 1024 pixels (63 GB): the old reader zero-filled that
// much before reading. Memory now follows the data, so this is "truncated", at once.
TEST(IdxReader, AHugeAnnouncedSizeIsTruncatedNotAnAllocation) {
  TempDir dir;
  const std::string huge = dir.file("huge.gz");
  write_gzip(huge, encode_idx({60000, 1024, 1024}, iota_bytes(100)));
  expect_error_mentioning(huge, 3, "more than 4294967296 data bytes");
  const std::string big = dir.file("big.gz");
  write_gzip(big, encode_idx({60000, 256, 256}, iota_bytes(100)));
  expect_error_mentioning(big, 3, "truncated: header announces 3932160000 data bytes, found 100");
}

TEST(IdxReader, RealDebianFashionMnist) {
  const std::string root = "/usr/share/datasets/fashion-mnist";
  ASSERT_TRUE(std::filesystem::exists(root + "/t10k-labels-idx1-ubyte.gz"))
      << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
  const IdxArray train_labels = read_idx(root + "/train-labels-idx1-ubyte.gz", 1);
  EXPECT_EQ(train_labels.count(), 60000);
  const IdxArray test_images = read_idx(root + "/t10k-images-idx3-ubyte.gz", 3);
  EXPECT_EQ(test_images.dims, (std::vector<int64_t>{10000, 28, 28}));
  const IdxArray test_labels = read_idx(root + "/t10k-labels-idx1-ubyte.gz", 1);
  EXPECT_EQ(test_labels.count(), 10000);
  int counts[10] = {};
  for (uint8_t v : test_labels.values) {
    ASSERT_LE(v, 9);
    ++counts[v];
  }
  for (int c : counts) EXPECT_EQ(c, 1000);  // Fashion-MNIST's test split is balanced
}

}  // namespace
}  // namespace ubp::data
