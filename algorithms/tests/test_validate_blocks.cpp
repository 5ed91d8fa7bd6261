// validate_blocks, block_mask and score_selection (selector.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms {
namespace {

// 10x5 with 4x2 blocks: Rp = 12, Cp = 6, 3 column groups, start rows 0..8.
const BlockGrid kGrid = make_grid(10, 5, BlockShape{4, 2});

std::string error_of(const std::vector<Block>& blocks, bool require_aligned) {
  try {
    validate_blocks(kGrid, blocks, require_aligned);
  } catch (const SelectionError& e) {
    return e.what();
  }
  return "";
}

TEST(ValidateBlocks, AcceptsEmptyAlignedAndNonOverlappingUnalignedSelections) {
  EXPECT_NO_THROW(validate_blocks(kGrid, {}, true));
  EXPECT_NO_THROW(validate_blocks(kGrid, {{0, 0}, {0, 4}, {0, 8}, {2, 8}}, true));
  EXPECT_NO_THROW(validate_blocks(kGrid, {{1, 1}, {1, 5}, {0, 8}, {2, 3}}, false));
  // Input order does not matter.
  EXPECT_NO_THROW(validate_blocks(kGrid, {{1, 5}, {2, 3}, {1, 1}}, false));
}

TEST(ValidateBlocks, RejectsBlocksOutsideThePaddedGrid) {
  for (const Block& bad : {Block{-1, 0}, Block{3, 0}, Block{0, -1}, Block{0, 9}, Block{2, 12}}) {
    const std::string msg = error_of({{1, 0}, bad}, false);
    EXPECT_NE(msg.find("col_group=" + std::to_string(bad.col_group)), std::string::npos) << msg;
    EXPECT_NE(msg.find("start_row=" + std::to_string(bad.start_row)), std::string::npos) << msg;
  }
  // The last legal start row is Rp - bh = 8, even though rows 10 and 11 are padding.
  EXPECT_NO_THROW(validate_blocks(kGrid, {{0, 8}}, true));
}

TEST(ValidateBlocks, RejectsOverlapsInOneColumnGroupAndNamesTheBlock) {
  const std::string msg = error_of({{0, 0}, {1, 2}, {1, 5}}, false);  // rows 2-5 vs 5-8
  EXPECT_NE(msg.find("start_row=5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("overlap"), std::string::npos) << msg;
  EXPECT_FALSE(error_of({{1, 2}, {1, 6}}, false).size());  // touching is fine
  EXPECT_FALSE(error_of({{0, 2}, {1, 3}}, false).size());  // other column group is fine
}

TEST(ValidateBlocks, TreatsDuplicatesAsOverlaps) {
  EXPECT_NE(error_of({{2, 4}, {2, 4}}, true).find("col_group=2, start_row=4"), std::string::npos);
}

TEST(ValidateBlocks, RejectsMisalignedStartsOnlyWhenAlignmentIsRequired) {
  const std::string msg = error_of({{0, 4}, {1, 6}}, true);
  EXPECT_NE(msg.find("start_row=6"), std::string::npos) << msg;
  EXPECT_TRUE(error_of({{0, 4}, {1, 6}}, false).empty());
}

TEST(BlockMask, MarksOnlyRealCellsOfKeptBlocks) {
  // Block (2, 8) covers rows 8..11 x cols 4..5 of the padded grid; only rows 8-9, col 4 exist.
  const std::vector<uint8_t> mask = block_mask(kGrid, {{0, 0}, {2, 8}});
  ASSERT_EQ(mask.size(), 50u);
  int ones = 0;
  for (int64_t r = 0; r < 10; ++r) {
    for (int64_t c = 0; c < 5; ++c) {
      const bool expected = (c < 2 && r < 4) || (c == 4 && r >= 8);
      EXPECT_EQ(mask[static_cast<size_t>(r * 5 + c)], expected ? 1 : 0) << r << "," << c;
      ones += mask[static_cast<size_t>(r * 5 + c)];
    }
  }
  EXPECT_EQ(ones, 10);
  EXPECT_THROW(block_mask(kGrid, {{3, 0}}), SelectionError);
}

TEST(ScoreSelection, SumsKeptAndTotalImportanceOverRealCells) {
  Matrix imp(10, 5);
  for (int64_t r = 0; r < 10; ++r) {
    for (int64_t c = 0; c < 5; ++c) imp(r, c) = static_cast<float>(r * 5 + c);
  }
  SelectionResult res;
  res.blocks = {{2, 8}};  // cells (8,4)=44 and (9,4)=49
  score_selection(imp.view(), kGrid, res);
  EXPECT_EQ(res.kept_cells, 2);
  EXPECT_DOUBLE_EQ(res.retained_importance, 93.0);
  EXPECT_DOUBLE_EQ(res.total_importance, 49.0 * 50.0 / 2.0);
  EXPECT_EQ(res.blocks.size(), 1u);  // blocks untouched

  Matrix wrong(9, 5);
  EXPECT_THROW(score_selection(wrong.view(), kGrid, res), SelectionError);
}

}  // namespace
}  // namespace ubp::algorithms
