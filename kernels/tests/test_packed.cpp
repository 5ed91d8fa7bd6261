// Packed formats: round trips, layout details and every rejection.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.h"
#include "ubp/kernels/packed.h"

namespace ubp::kernels {
namespace {

using testing::random_aligned_blocks;
using testing::random_floats;
using testing::random_unaligned_blocks;

// W * mask(blocks), computed directly from the block list.
std::vector<float> masked(const std::vector<float>& w, int64_t rows, int64_t cols,
                          BlockShape shape, const std::vector<Block>& blocks) {
  std::vector<float> out(w.size(), 0.0f);
  for (const Block& b : blocks) {
    for (int64_t r = b.start_row; r < b.start_row + shape.rows && r < rows; ++r) {
      for (int64_t c = b.col_group * shape.cols;
           c < (b.col_group + 1) * shape.cols && c < cols; ++c) {
        out[r * cols + c] = w[r * cols + c];
      }
    }
  }
  return out;
}

// Expects `fn` to throw std::invalid_argument whose message contains every piece.
template <class F>
void expect_rejected(F fn, const std::vector<std::string>& pieces) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    for (const auto& p : pieces) EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}

struct Case {
  int64_t rows, cols;
  int bh, bw;
};
const Case kCases[] = {{8, 8, 4, 1},   {10, 7, 4, 3}, {3, 5, 4, 1},  {17, 9, 8, 2},
                       {16, 16, 2, 1}, {5, 11, 1, 4}, {33, 20, 8, 1}, {1, 1, 1, 1},
                       {6, 13, 2, 5},  {64, 32, 4, 1}};

TEST(PackAligned, RoundTripGivesTheMaskedDenseMatrixExactly) {
  uint64_t seed = 1;
  for (const Case& c : kCases) {
    const BlockShape shape{c.bh, c.bw};
    const auto w = random_floats(c.rows * c.cols, seed++);
    const int64_t tiles = (c.rows + c.bh - 1) / c.bh * ((c.cols + c.bw - 1) / c.bw);
    for (int64_t m : {int64_t{0}, tiles / 3, tiles}) {
      const auto blocks = random_aligned_blocks(c.rows, c.cols, shape, m, seed++);
      const auto p = pack_aligned(w.data(), nullptr, c.rows, c.cols, shape, blocks);
      EXPECT_EQ(unpack(p), masked(w, c.rows, c.cols, shape, blocks))
          << c.rows << "x" << c.cols << " b" << c.bh << "x" << c.bw << " m=" << m;
      EXPECT_EQ(p.geom.num_blocks, m);
    }
  }
}

TEST(PackUnaligned, RoundTripGivesTheMaskedDenseMatrixExactly) {
  uint64_t seed = 100;
  for (const Case& c : kCases) {
    const BlockShape shape{c.bh, c.bw};
    const auto w = random_floats(c.rows * c.cols, seed++);
    const int64_t tiles = (c.rows + c.bh - 1) / c.bh * ((c.cols + c.bw - 1) / c.bw);
    for (int64_t m : {int64_t{0}, tiles / 2, tiles}) {
      const auto blocks = random_unaligned_blocks(c.rows, c.cols, shape, m, seed++);
      const auto p = pack_unaligned(w.data(), nullptr, c.rows, c.cols, shape, blocks);
      EXPECT_EQ(unpack(p), masked(w, c.rows, c.cols, shape, blocks))
          << c.rows << "x" << c.cols << " b" << c.bh << "x" << c.bw << " m=" << m;
    }
  }
}

TEST(PackUnaligned, AcceptsAlignedBlocksToo) {
  const auto w = random_floats(12 * 6, 7);
  const auto blocks = random_aligned_blocks(12, 6, {4, 1}, 8, 8);
  const auto p = pack_unaligned(w.data(), nullptr, 12, 6, {4, 1}, blocks);
  EXPECT_EQ(unpack(p), masked(w, 12, 6, {4, 1}, blocks));
}

TEST(PackUnaligned, StoresWeightsRotatedSoLaneSHoldsTheRowWithRowModBhEqualS) {
  // 8 x 2 matrix, w[r][c] = 10*r + c; 4x1 blocks at rows 3..6 of column 1 and rows 2..5 of
  // column 0.
  std::vector<float> w(8 * 2);
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 2; ++c) w[r * 2 + c] = static_cast<float>(10 * r + c);
  const auto p = pack_unaligned(w.data(), nullptr, 8, 2, {4, 1}, {{1, 3}, {0, 2}});
  ASSERT_EQ(p.counts.size(), 8u);
  EXPECT_EQ(p.counts[2], 1);
  EXPECT_EQ(p.counts[3], 1);
  // Block at start 2, column 0: rows 2,3,4,5 -> slots 2,3,0,1 => lanes {40, 50, 20, 30}.
  EXPECT_EQ(std::vector<float>(p.weights.begin(), p.weights.begin() + 4),
            (std::vector<float>{40, 50, 20, 30}));
  // Block at start 3, column 1: rows 3,4,5,6 -> slots 3,0,1,2 => lanes {41, 51, 61, 31}.
  EXPECT_EQ(std::vector<float>(p.weights.begin() + 4, p.weights.begin() + 8),
            (std::vector<float>{41, 51, 61, 31}));
  // Deltas in columns between consecutive vectors; the last is 0; arrays padded by one.
  EXPECT_EQ(p.deltas, (std::vector<int32_t>{1, 0, 0}));
  EXPECT_EQ(p.weights.size(), 3u * 4u);
  EXPECT_EQ(p.row_col[0], 0);
  EXPECT_EQ(p.row_col[3], 1);
  EXPECT_EQ(p.row_begin[3], 1);
}

TEST(PackAligned, StoresBlockRowsInColumnOrderWithColumnDeltas) {
  std::vector<float> w(4 * 6);
  for (int i = 0; i < 24; ++i) w[i] = static_cast<float>(i + 1);
  // 2x2 blocks: block-row 0 at column groups 2 and 0, block-row 1 at group 1.
  const auto p = pack_aligned(w.data(), nullptr, 4, 6, {2, 2}, {{2, 0}, {1, 2}, {0, 0}});
  EXPECT_EQ(p.counts, (std::vector<int32_t>{4, 2}));  // column vectors
  EXPECT_EQ(p.geom.num_vectors, 6);
  EXPECT_EQ(p.geom.kept_cells, 12);
  // Vector columns in storage order: 0,1,4,5 | 2,3.
  EXPECT_EQ(p.deltas, (std::vector<int32_t>{1, 3, 1, -3, 1, 0, 0}));
  EXPECT_EQ(p.row_col, (std::vector<int32_t>{0, 2}));
  // First vector: column 0 of rows 0,1 -> w[0][0], w[1][0].
  EXPECT_EQ(p.weights[0], 1.0f);
  EXPECT_EQ(p.weights[1], 7.0f);
}

TEST(PackAligned, BlocksOverPaddingRowsAndColumnsKeepOnlyRealCells) {
  // 5 x 5 with 4x2 blocks: rows pad to 8, columns to 6.
  const auto w = random_floats(25, 3);
  const std::vector<Block> blocks = {{2, 4}, {0, 0}};
  const auto p = pack_aligned(w.data(), nullptr, 5, 5, {4, 2}, blocks);
  EXPECT_EQ(p.geom.padded_rows, 8);
  EXPECT_EQ(p.geom.kept_cells, 1 * 1 + 4 * 2);
  EXPECT_EQ(p.geom.num_vectors, 1 + 2);  // padding column 5 is dropped
  EXPECT_EQ(unpack(p), masked(w, 5, 5, {4, 2}, blocks));
  // Padding rows carry zero weights.
  EXPECT_EQ(p.weights[2 * 4 + 1], 0.0f);
}

TEST(PackUnaligned, BlockMayEndInThePaddingRows) {
  const auto w = random_floats(6 * 3, 4);
  const std::vector<Block> blocks = {{1, 4}, {0, 1}};  // rows 4..7 of 6 (padded to 8)
  const auto p = pack_unaligned(w.data(), nullptr, 6, 3, {4, 1}, blocks);
  EXPECT_EQ(unpack(p), masked(w, 6, 3, {4, 1}, blocks));
  EXPECT_EQ(p.geom.kept_cells, 2 + 4);
}

TEST(PackBoth, BiasIsKeptAndPaddedWithZeros) {
  const auto w = random_floats(6 * 3, 5);
  const auto b = random_floats(6, 6);
  const auto a = pack_aligned(w.data(), b.data(), 6, 3, {4, 1}, {});
  const auto u = pack_unaligned(w.data(), b.data(), 6, 3, {4, 1}, {});
  EXPECT_EQ(unpack_bias(a), b);
  EXPECT_EQ(unpack_bias(u), b);
  ASSERT_EQ(a.bias.size(), 12u);  // Rp + bh
  for (size_t i = 6; i < a.bias.size(); ++i) EXPECT_EQ(a.bias[i], 0.0f);
  const auto none = pack_aligned(w.data(), nullptr, 6, 3, {4, 1}, {});
  EXPECT_EQ(unpack_bias(none), std::vector<float>(6, 0.0f));
  EXPECT_EQ(unpack(a), std::vector<float>(18, 0.0f));
  EXPECT_GT(a.bytes(), 0);
}

TEST(PackRejects, UnsupportedBlockHeight) {
  const auto w = random_floats(12, 1);
  for (int bh : {0, 3, 5, 16, -4}) {
    expect_rejected([&] { pack_aligned(w.data(), nullptr, 4, 3, {bh, 1}, {}); },
                    {"pack_aligned", "bh = " + std::to_string(bh), "1, 2, 4, 8"});
    expect_rejected([&] { pack_unaligned(w.data(), nullptr, 4, 3, {bh, 1}, {}); },
                    {"pack_unaligned", "bh = " + std::to_string(bh)});
  }
}

TEST(PackRejects, BlockWidthBelowOne) {
  const auto w = random_floats(12, 1);
  expect_rejected([&] { pack_aligned(w.data(), nullptr, 4, 3, {4, 0}, {}); }, {"bw = 0"});
}

TEST(PackRejects, EmptyMatrixAndNullWeights) {
  const auto w = random_floats(12, 1);
  expect_rejected([&] { pack_aligned(w.data(), nullptr, 0, 3, {4, 1}, {}); }, {"0 x 3"});
  expect_rejected([&] { pack_unaligned(w.data(), nullptr, 4, 0, {4, 1}, {}); }, {"4 x 0"});
  expect_rejected([&] { pack_aligned(nullptr, nullptr, 4, 3, {4, 1}, {}); }, {"null"});
  expect_rejected([&] { pack_dense(w.data(), nullptr, 0, 3); }, {"pack_dense"});
}

TEST(PackRejects, ColumnGroupOutOfRange) {
  const auto w = random_floats(8 * 5, 1);
  // 5 columns, bw 2 -> 3 column groups.
  expect_rejected([&] { pack_aligned(w.data(), nullptr, 8, 5, {4, 2}, {{0, 0}, {3, 4}}); },
                  {"block #1", "col_group 3", "start_row 4", "out of range", "[0, 3)"});
  expect_rejected([&] { pack_unaligned(w.data(), nullptr, 8, 5, {4, 2}, {{-1, 0}}); },
                  {"block #0", "col_group -1"});
}

TEST(PackRejects, StartRowOutOfRange) {
  const auto w = random_floats(10 * 2, 1);
  // 10 rows pad to 12 with bh 4: start rows 0..8 are valid.
  expect_rejected([&] { pack_unaligned(w.data(), nullptr, 10, 2, {4, 1}, {{1, 9}}); },
                  {"block #0", "start_row 9", "[0, 8]"});
  expect_rejected([&] { pack_aligned(w.data(), nullptr, 10, 2, {4, 1}, {{0, -4}}); },
                  {"start_row -4", "out of range"});
  EXPECT_NO_THROW(pack_unaligned(w.data(), nullptr, 10, 2, {4, 1}, {{1, 8}}));
}

TEST(PackRejects, MisalignedStartRowInTheAlignedFormat) {
  const auto w = random_floats(8 * 2, 1);
  expect_rejected([&] { pack_aligned(w.data(), nullptr, 8, 2, {4, 1}, {{0, 0}, {1, 2}}); },
                  {"block #1", "col_group 1", "start_row 2", "misaligned", "multiple of bh = 4"});
  EXPECT_NO_THROW(pack_unaligned(w.data(), nullptr, 8, 2, {4, 1}, {{0, 0}, {1, 2}}));
}

TEST(PackRejects, OverlappingBlocksInOneColumnGroup) {
  const auto w = random_floats(12 * 2, 1);
  expect_rejected(
      [&] { pack_unaligned(w.data(), nullptr, 12, 2, {4, 1}, {{0, 0}, {1, 1}, {0, 3}}); },
      {"block #2 (col_group 0, start_row 3) overlaps block #0 (col_group 0, start_row 0)"});
  // Adjacent blocks and the same rows in different groups are fine.
  EXPECT_NO_THROW(pack_unaligned(w.data(), nullptr, 12, 2, {4, 1}, {{0, 0}, {0, 4}, {1, 1}}));
}

TEST(PackRejects, DuplicateBlocks) {
  const auto w = random_floats(8 * 2, 1);
  expect_rejected([&] { pack_aligned(w.data(), nullptr, 8, 2, {4, 1}, {{1, 4}, {1, 4}}); },
                  {"block #1", "overlaps block #0", "duplicate"});
}

TEST(PackDense, PanelsAreEightRowsKMajorWithZeroPadding) {
  std::vector<float> w(10 * 3);
  for (int i = 0; i < 30; ++i) w[i] = static_cast<float>(i + 1);
  const std::vector<float> b = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const DensePacked d = pack_dense(w.data(), b.data(), 10, 3);
  ASSERT_EQ(d.panels.size(), 2u * 8u * 3u);
  EXPECT_EQ(d.panels[0 * 8 + 0], w[0 * 3 + 0]);
  EXPECT_EQ(d.panels[2 * 8 + 5], w[5 * 3 + 2]);
  EXPECT_EQ(d.panels[24 + 1 * 8 + 1], w[9 * 3 + 1]);
  EXPECT_EQ(d.panels[24 + 1 * 8 + 2], 0.0f);  // row 10 is padding
  ASSERT_EQ(d.bias.size(), 16u);
  EXPECT_EQ(d.bias[9], 10.0f);
  EXPECT_EQ(d.bias[10], 0.0f);
}

}  // namespace
}  // namespace ubp::kernels
