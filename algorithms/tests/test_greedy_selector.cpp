// The "greedy" selector (best window over the original rows, overlapping windows discarded, no
// compaction) and its exactly-m rule (greedy.cpp): hand-worked cases, the adversarial cases
// where plain greedy would strand itself, and agreement with the from-the-definition reference
// of heuristic_reference.h on many random inputs full of ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "heuristic_reference.h"
#include "structure_checks.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms {
namespace {

using heuristic_reference::column;
using heuristic_reference::columns;

std::unique_ptr<Selector> greedy() { return SelectorRegistry::instance().create("greedy"); }

TEST(GreedySelector, IsNamedGreedyAndIsUnaligned) {
  const auto sel = greedy();
  EXPECT_EQ(sel->name(), "greedy");
  EXPECT_TRUE(sel->unaligned());
}

TEST(GreedySelector, TakesTheBestWindowsAndDiscardsTheOnesOverlappingThem) {
  // bh = 2. Windows: 1, 10, 15, 9, 2. Best: rows 2-3 (15); rows 1-2 and 3-4 overlap it and go;
  // next: rows 0-1 (1) vs rows 4-5 (2) -> rows 4-5.
  const Matrix imp = column({0, 1, 9, 6, 3, -1});
  const SelectionResult res = greedy()->select(imp.view(), BlockShape{2, 1}, 2);
  check_structure(imp, BlockShape{2, 1}, 2, res);
  EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 2}, Block{0, 4}}));
  EXPECT_DOUBLE_EQ(res.retained_importance, 17.0);
}

TEST(GreedySelector, IsStrictlyWorseThanBedWhenCompactionPays) {
  // bh = 2, m = 2. Greedy: rows 1-2 (10), then the best window left is rows 3-4 (4): 14.
  // BED deletes rows 1-2 and keeps rows 0 and 3 next (8): 18, the optimum.
  const Matrix imp = column({4, 5, 5, 4, 0, 0});
  const SelectionResult g = greedy()->select(imp.view(), BlockShape{2, 1}, 2);
  const SelectionResult b = SelectorRegistry::instance().create("bed")->select(imp.view(), BlockShape{2, 1}, 2);
  check_structure(imp, BlockShape{2, 1}, 2, g);
  EXPECT_EQ(g.blocks, (std::vector<Block>{Block{0, 1}, Block{0, 3}}));
  EXPECT_DOUBLE_EQ(g.retained_importance, 14.0);
  EXPECT_DOUBLE_EQ(b.retained_importance, 18.0);
}

TEST(GreedySelector, NeverStrandsItselfWhenTheBudgetFillsEveryGroup) {
  // bh = 4, one group of 8 rows, m = 2 = the maximum. Plain greedy takes the best window,
  // rows 2-5 (12), and then has two free gaps of 2 rows: no room for the second block. With
  // no slack, only windows that keep room for the rest are allowed: the aligned ones here.
  const Matrix imp = column({0, 0, 1, 5, 5, 1, 0, 0});
  const auto sel = greedy();
  const SelectionResult two = sel->select(imp.view(), BlockShape{4, 1}, 2);
  check_structure(imp, BlockShape{4, 1}, 2, two);
  EXPECT_EQ(two.blocks, (std::vector<Block>{Block{0, 0}, Block{0, 4}}));
  EXPECT_DOUBLE_EQ(two.retained_importance, 12.0);
  // With one block there is slack: plain greedy's choice.
  EXPECT_EQ(sel->select(imp.view(), BlockShape{4, 1}, 1).blocks, (std::vector<Block>{Block{0, 2}}));
}

TEST(GreedySelector, SpendsSlackOnALossyPickThenRefusesFurtherLossyOnes) {
  // bh = 4, two groups of 8 rows: capacity 4 blocks, m = 3, slack 1.
  //   group 0: 0 0 1 5 5 1 0 0  (best window rows 2-5, 12)
  //   group 1: 0 0 1 4 4 1 0 0  (best window rows 2-5, 10)
  // Pick 1: group 0 rows 2-5. It wastes group 0's room (2 + 2 free rows): lossy, slack -> 0.
  // Pick 2 would be group 1 rows 2-5 (10), also lossy: refused. Only group 1's aligned
  // windows keep room for the 2 blocks left: rows 0-3 (5) and rows 4-7 (5).
  const Matrix imp = columns({{0, 0, 1, 5, 5, 1, 0, 0}, {0, 0, 1, 4, 4, 1, 0, 0}});
  const SelectionResult res = greedy()->select(imp.view(), BlockShape{4, 1}, 3);
  check_structure(imp, BlockShape{4, 1}, 3, res);
  EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 2}, Block{1, 0}, Block{1, 4}}));
  EXPECT_DOUBLE_EQ(res.retained_importance, 22.0);
  EXPECT_EQ(res.blocks, heuristic_reference::naive_greedy(imp, BlockShape{4, 1}, 3));
}

TEST(GreedySelector, WithoutSlackStillTakesUnalignedWindowsThatLoseNoRoom) {
  // bh = 2, two groups of 8 rows: capacity 8, m = 7, slack 1.
  //   group 0: 1 9 9 1 0 3 4 0      group 1: all 1 (every window scores 2)
  // Pick 1: group 0 rows 1-2 (18), lossy (it strands row 0): slack -> 0. Group 0's free rows
  // 3..7 (length 5) still hold 2 blocks wherever the next one starts, so rows 5-6 (7) are
  // allowed although unaligned. Then group 1 may only tile from its top (4 x 2), and group 0's
  // last room is rows 3-4 (1).
  const Matrix imp = columns({{1, 9, 9, 1, 0, 3, 4, 0}, {1, 1, 1, 1, 1, 1, 1, 1}});
  const SelectionResult res = greedy()->select(imp.view(), BlockShape{2, 1}, 7);
  check_structure(imp, BlockShape{2, 1}, 7, res);
  EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 1}, Block{0, 3}, Block{0, 5}, Block{1, 0},
                                            Block{1, 2}, Block{1, 4}, Block{1, 6}}));
  EXPECT_DOUBLE_EQ(res.retained_importance, 34.0);
  EXPECT_EQ(res.blocks, heuristic_reference::naive_greedy(imp, BlockShape{2, 1}, 7));
}

TEST(GreedySelector, BreaksTiesByLowerColumnGroupThenLowerStartRow) {
  Matrix imp(7, 3);
  std::fill(imp.values.begin(), imp.values.end(), 1.0f);
  // bh = 2: windows score 2 except the one reaching into the padding row (1). Group 0 first,
  // lowest free start each time: rows 0, 2, 4; then group 1 row 0 (2) beats group 0 row 6 (1).
  const SelectionResult res = greedy()->select(imp.view(), BlockShape{2, 1}, 4);
  check_structure(imp, BlockShape{2, 1}, 4, res);
  EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 0}, Block{0, 2}, Block{0, 4}, Block{1, 0}}));
}

TEST(GreedySelector, BudgetZeroIsEmptyAndTheMaximumKeepsEveryCell) {
  const auto sel = greedy();
  for (const BlockShape shape : {BlockShape{4, 1}, BlockShape{3, 2}, BlockShape{1, 1}, BlockShape{5, 3}}) {
    const Matrix imp = heuristic_reference::abs_gaussian(11, 7, 5);
    SCOPED_TRACE(to_string(shape));
    const SelectionResult none = sel->select(imp.view(), shape, 0);
    check_structure(imp, shape, 0, none);
    EXPECT_EQ(none.kept_cells, 0);

    const int64_t max_m = heuristic_reference::max_budget(imp, shape);
    const SelectionResult all = sel->select(imp.view(), shape, max_m);
    check_structure(imp, shape, max_m, all);
    EXPECT_EQ(all.kept_cells, imp.rows * imp.cols);
    for (const Block& b : all.blocks) EXPECT_EQ(b.start_row % shape.rows, 0);
  }
}

TEST(GreedySelector, RejectsBadBudgetsAndNaN) {
  Matrix imp = heuristic_reference::abs_gaussian(8, 4, 6);
  const auto sel = greedy();
  EXPECT_THROW(sel->select(imp.view(), BlockShape{4, 1}, -1), SelectionError);
  EXPECT_THROW(sel->select(imp.view(), BlockShape{4, 1}, 9), SelectionError);
  EXPECT_NO_THROW(sel->select(imp.view(), BlockShape{4, 1}, 8));
  imp(3, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(sel->select(imp.view(), BlockShape{4, 1}, 0), SelectionError);
  EXPECT_THROW(sel->select(imp.view(), BlockShape{4, 1}, 2), SelectionError);
}

TEST(GreedySelector, ReturnsExactlyMBlocksForEveryBudgetOnAdversarialColumns) {
  // Peaks placed to split segments badly: every budget from 0 to the maximum must work.
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 40; ++trial) {
    const int bh = 2 + trial % 4;
    const int64_t rows = 3 * bh + static_cast<int64_t>(rng() % static_cast<uint64_t>(4 * bh));
    Matrix imp(rows, 3);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < 3; ++c) imp(r, c) = (r + c) % bh == bh / 2 ? 100.0f : static_cast<float>(rng() % 3);
    }
    const BlockShape shape{bh, 1};
    for (int64_t m = 0; m <= heuristic_reference::max_budget(imp, shape); ++m) {
      SCOPED_TRACE("trial " + std::to_string(trial) + " m=" + std::to_string(m));
      const SelectionResult res = greedy()->select(imp.view(), shape, m);
      check_structure(imp, shape, m, res);
      EXPECT_EQ(res.blocks, heuristic_reference::naive_greedy(imp, shape, m));
    }
  }
}

TEST(GreedySelector, PicksExactlyTheBlocksOfTheNaiveRuleOnRandomInputs) {
  std::mt19937_64 rng(0x6EEED7);
  for (int trial = 0; trial < 500; ++trial) {
    const bool large = trial % 10 == 0;  // long free segments: many windows change at once
    const int64_t rows = 1 + static_cast<int64_t>(rng() % (large ? 400 : 24));
    const int64_t cols = 1 + static_cast<int64_t>(rng() % (large ? 4 : 6));
    const BlockShape shape{1 + static_cast<int>(rng() % (large ? 9 : 6)),
                           1 + static_cast<int>(rng() % (large ? 2 : 3))};
    const int64_t max_m = heuristic_reference::max_budget(Matrix(rows, cols), shape);
    // Half the trials near the maximum, where the exactly-m rule is active.
    int64_t m = static_cast<int64_t>(rng() % static_cast<uint64_t>(max_m + 1));
    if (trial % 2 == 0) m = std::max<int64_t>(0, max_m - static_cast<int64_t>(rng() % 3));
    Matrix imp;
    switch (trial % 3) {
      case 0:
        imp = integer_matrix(rows, cols, 2, rng);
        break;
      case 1:
        imp = integer_matrix(rows, cols, 9, rng);
        break;
      default:
        imp = heuristic_reference::abs_gaussian(rows, cols, rng());
    }
    SCOPED_TRACE("trial " + std::to_string(trial) + ": " + std::to_string(rows) + "x" +
                 std::to_string(cols) + " " + to_string(shape) + " m=" + std::to_string(m));
    const SelectionResult res = greedy()->select(imp.view(), shape, m);
    check_structure(imp, shape, m, res);
    ASSERT_EQ(res.blocks, heuristic_reference::naive_greedy(imp, shape, m));
  }
}

TEST(GreedySelector, IsDeterministicAndReadsThroughTheRowStride) {
  const Matrix dense = heuristic_reference::abs_gaussian(29, 7, 8);
  Matrix wide(29, 10);
  for (int64_t r = 0; r < 29; ++r) {
    for (int64_t c = 0; c < 10; ++c) wide(r, c) = c < 7 ? dense(r, c) : 1000.0f;
  }
  const MatrixView strided{wide.values.data(), 29, 7, 10};
  const BlockShape shape{3, 2};
  const SelectionResult a = greedy()->select(dense.view(), shape, 25);
  EXPECT_EQ(greedy()->select(dense.view(), shape, 25).blocks, a.blocks);
  EXPECT_EQ(greedy()->select(strided, shape, 25).blocks, a.blocks);
}

}  // namespace
}  // namespace ubp::algorithms
