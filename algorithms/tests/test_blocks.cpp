// Padded block grid and block budget (blocks.h).
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "ubp/algorithms/blocks.h"

namespace ubp::algorithms {
namespace {

TEST(MakeGrid, ExactShapesNeedNoPadding) {
  const BlockGrid g = make_grid(8, 6, BlockShape{4, 2});
  EXPECT_EQ(g.rows, 8);
  EXPECT_EQ(g.cols, 6);
  EXPECT_EQ(g.padded_rows, 8);
  EXPECT_EQ(g.padded_cols, 6);
  EXPECT_EQ(g.col_groups, 3);
  EXPECT_EQ(g.aligned_tiles_per_group, 2);
  EXPECT_EQ(g.shape.rows, 4);
  EXPECT_EQ(g.shape.cols, 2);
}

TEST(MakeGrid, RaggedRowsAndColumnsArePaddedUpToWholeBlocks) {
  const BlockGrid g = make_grid(10, 7, BlockShape{4, 3});
  EXPECT_EQ(g.padded_rows, 12);
  EXPECT_EQ(g.padded_cols, 9);
  EXPECT_EQ(g.col_groups, 3);
  EXPECT_EQ(g.aligned_tiles_per_group, 3);
}

TEST(MakeGrid, FewerRowsThanTheBlockHeightGiveOneTilePerGroup) {
  const BlockGrid g = make_grid(3, 5, BlockShape{4, 1});
  EXPECT_EQ(g.padded_rows, 4);
  EXPECT_EQ(g.padded_cols, 5);
  EXPECT_EQ(g.col_groups, 5);
  EXPECT_EQ(g.aligned_tiles_per_group, 1);
}

TEST(MakeGrid, SingleCellMatrixWithLargeBlock) {
  const BlockGrid g = make_grid(1, 1, BlockShape{4, 4});
  EXPECT_EQ(g.padded_rows, 4);
  EXPECT_EQ(g.padded_cols, 4);
  EXPECT_EQ(g.col_groups, 1);
  EXPECT_EQ(g.aligned_tiles_per_group, 1);
}

TEST(MakeGrid, RejectsEmptyMatricesAndEmptyBlocks) {
  EXPECT_THROW(make_grid(0, 4, BlockShape{1, 1}), std::invalid_argument);
  EXPECT_THROW(make_grid(4, 0, BlockShape{1, 1}), std::invalid_argument);
  EXPECT_THROW(make_grid(-1, 4, BlockShape{1, 1}), std::invalid_argument);
  EXPECT_THROW(make_grid(4, 4, BlockShape{0, 1}), std::invalid_argument);
  EXPECT_THROW(make_grid(4, 4, BlockShape{1, 0}), std::invalid_argument);
  EXPECT_THROW(make_grid(4, 4, BlockShape{-2, 1}), std::invalid_argument);
}

TEST(BlockShapeToString, PrintsRowsByCols) {
  EXPECT_EQ(to_string(BlockShape{4, 1}), "4x1");
  EXPECT_EQ(to_string(BlockShape{2, 8}), "2x8");
}

// Expected values below are worked out by hand: floor(rows * cols * (1 - s) / (bh * bw)).
TEST(BlockBudget, ZeroSparsityKeepsAllRealCellsWorthOfBlocks) {
  EXPECT_EQ(block_budget(8, 8, BlockShape{4, 1}, 0.0), 16);   // 64 / 4
  EXPECT_EQ(block_budget(10, 3, BlockShape{4, 1}, 0.0), 7);   // floor(30 / 4)
  EXPECT_EQ(block_budget(1, 1, BlockShape{1, 1}, 0.0), 1);
  EXPECT_EQ(block_budget(3, 1, BlockShape{4, 1}, 0.0), 0);    // floor(3 / 4)
}

TEST(BlockBudget, FullSparsityKeepsNothing) {
  EXPECT_EQ(block_budget(8, 8, BlockShape{4, 1}, 1.0), 0);
  EXPECT_EQ(block_budget(1, 1, BlockShape{1, 1}, 1.0), 0);
}

TEST(BlockBudget, TypicalLayersAtTypicalSparsities) {
  EXPECT_EQ(block_budget(1024, 1024, BlockShape{4, 1}, 0.8), 52428);  // 52428.8
  EXPECT_EQ(block_budget(64, 32, BlockShape{2, 1}, 0.5), 512);        // 1024
  EXPECT_EQ(block_budget(64, 32, BlockShape{2, 1}, 0.75), 256);
  EXPECT_EQ(block_budget(100, 10, BlockShape{4, 2}, 0.9), 12);        // 12.5
  EXPECT_EQ(block_budget(7, 5, BlockShape{2, 2}, 0.5), 4);            // 4.375
}

TEST(BlockBudget, DecimalSparsitiesThatAreNotExactInBinaryRoundCorrectly) {
  // 1 - 0.7 is 0.30000000000000004 in double and 1 - 0.3 is not exactly 0.7: the products must
  // still give the mathematically exact integers.
  EXPECT_EQ(block_budget(10, 1, BlockShape{1, 1}, 0.7), 3);
  EXPECT_EQ(block_budget(10, 1, BlockShape{1, 1}, 0.3), 7);
  EXPECT_EQ(block_budget(10, 10, BlockShape{1, 1}, 0.7), 30);
  EXPECT_EQ(block_budget(100, 1, BlockShape{1, 1}, 0.29), 71);
  EXPECT_EQ(block_budget(100, 1, BlockShape{1, 1}, 0.57), 43);
  EXPECT_EQ(block_budget(1000, 1, BlockShape{1, 1}, 0.001), 999);
  EXPECT_EQ(block_budget(40, 1, BlockShape{4, 1}, 0.7), 3);  // 12 cells / 4
  // In the naive double formula some of these land just below the integer; all must still
  // give the exact value, for every percentage.
  for (int pct = 0; pct <= 100; ++pct) {
    EXPECT_EQ(block_budget(100, 1, BlockShape{1, 1}, pct / 100.0), 100 - pct) << "pct=" << pct;
    EXPECT_EQ(block_budget(200, 2, BlockShape{4, 1}, pct / 100.0), 100 - pct) << "pct=" << pct;
  }
}

TEST(BlockBudget, NeverExceedsTheNumberOfAlignedTiles) {
  for (int64_t rows = 1; rows <= 13; ++rows) {
    for (int64_t cols = 1; cols <= 9; ++cols) {
      for (int bh = 1; bh <= 5; ++bh) {
        for (int bw = 1; bw <= 3; ++bw) {
          const BlockGrid g = make_grid(rows, cols, BlockShape{bh, bw});
          const int64_t m = block_budget(rows, cols, BlockShape{bh, bw}, 0.0);
          EXPECT_LE(m, g.col_groups * g.aligned_tiles_per_group);
          EXPECT_EQ(m, rows * cols / (bh * bw));  // exact integer arithmetic at s = 0
        }
      }
    }
  }
}

TEST(BlockBudget, RejectsSparsityOutsideTheUnitInterval) {
  EXPECT_THROW(block_budget(8, 8, BlockShape{4, 1}, -0.01), std::invalid_argument);
  EXPECT_THROW(block_budget(8, 8, BlockShape{4, 1}, 1.01), std::invalid_argument);
  EXPECT_THROW(block_budget(8, 8, BlockShape{4, 1}, std::nan("")), std::invalid_argument);
}

TEST(BlockBudget, RejectsInvalidShapes) {
  EXPECT_THROW(block_budget(0, 8, BlockShape{4, 1}, 0.5), std::invalid_argument);
  EXPECT_THROW(block_budget(8, 8, BlockShape{0, 1}, 0.5), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::algorithms
