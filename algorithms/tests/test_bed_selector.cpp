// The "bed" selector (Block Expansion and Division, docs/method.md section 4.4): hand-worked cases,
// structure, edge cases, and pick-for-pick agreement with the naive reference of
// heuristic_reference.h (same procedure, no heap) on many random inputs full of ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
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

std::unique_ptr<Selector> bed() { return SelectorRegistry::instance().create("bed"); }

TEST(BedSelector, IsNamedBedAndIsUnaligned) {
  const auto sel = bed();
  EXPECT_EQ(sel->name(), "bed");
  EXPECT_TRUE(sel->unaligned());
}

TEST(BedSelector, ExpandsAKeptRegionWithAWindowThatStraddlesIt) {
  // bh = 2. Pick 1: rows 1-2 (5+5 = 10). Their deletion leaves the live list 4, 4, 0, 0, so
  // the best window is rows {0, 3} (8), straddling the kept rows: the region grows to 0..3.
  // Plain greedy would instead keep rows 1-2 and 3-4 (10 + 4).
  const Matrix imp = column({4, 5, 5, 4, 0, 0});
  const SelectionResult res = bed()->select(imp.view(), BlockShape{2, 1}, 2);
  check_structure(imp, BlockShape{2, 1}, 2, res);
  EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 0}, Block{0, 2}}));
  EXPECT_DOUBLE_EQ(res.retained_importance, 18.0);
}

TEST(BedSelector, ExpandsOnBothSidesOfAKeptRegionAtOnce) {
  // bh = 3. Pick 1: rows 2-4 (27). Live list: 2, 1, [kept], 1, 2, 0, 0. Windows: rows {0,1,5}
  // = 4, {1,5,6} = 4, {5,6,7} = 3: the tie goes to the lower first row, so rows 0, 1 and 5
  // join the region, which becomes rows 0..5 and divides into blocks at 0 and 3.
  const Matrix imp = column({2, 1, 9, 9, 9, 1, 2, 0, 0});
  const SelectionResult res = bed()->select(imp.view(), BlockShape{3, 1}, 2);
  check_structure(imp, BlockShape{3, 1}, 2, res);
  EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 0}, Block{0, 3}}));
  EXPECT_DOUBLE_EQ(res.retained_importance, 31.0);
}

TEST(BedSelector, DividesKeptRunsIntoUnalignedBlocks) {
  // bh = 2. Windows at rows 1, 2, 3 all score 10; the lowest start (1) goes first. Live list:
  // 0, [kept], 5, 5, 0 -> the best window is rows 3-4 (10). Run 1..4 -> blocks at 1 and 3.
  const Matrix imp = column({0, 5, 5, 5, 5, 0});
  const SelectionResult res = bed()->select(imp.view(), BlockShape{2, 1}, 2);
  check_structure(imp, BlockShape{2, 1}, 2, res);
  EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 1}, Block{0, 3}}));
  EXPECT_DOUBLE_EQ(res.retained_importance, 20.0);
}

TEST(BedSelector, TreatsPaddingRowsAsLiveZeroEntries) {
  // 5 rows, bh = 4: padded to 8 rows, rows 5..7 score 0. Windows: 4, 13, 12, 11, 10.
  const Matrix imp = column({1, 1, 1, 1, 10});
  const auto sel = bed();
  EXPECT_EQ(sel->select(imp.view(), BlockShape{4, 1}, 1).blocks, (std::vector<Block>{Block{0, 1}}));
  // Second pick: the live list is 1, 0, 0, 0 (row 0 and the padding): one window, score 1.
  // Everything ends up kept; the run 0..7 divides into the aligned blocks 0 and 4.
  const SelectionResult all = sel->select(imp.view(), BlockShape{4, 1}, 2);
  check_structure(imp, BlockShape{4, 1}, 2, all);
  EXPECT_EQ(all.blocks, (std::vector<Block>{Block{0, 0}, Block{0, 4}}));
  EXPECT_EQ(all.kept_cells, 5);
  EXPECT_DOUBLE_EQ(all.retained_importance, 14.0);
}

TEST(BedSelector, SumsRowScoresAcrossTheColumnsOfAGroup) {
  // bh = 2, bw = 2: group 0 = columns 0-1, group 1 = column 2 plus a padding column.
  // Row scores: group 0 = 1, 1, 0, 10; group 1 = 3, 3, 0, 0.
  const Matrix imp = columns({{1, 0, 0, 5}, {0, 1, 0, 5}, {3, 3, 0, 0}});
  const auto sel = bed();
  const BlockShape shape{2, 2};
  // Pick 1: group 0 rows 2-3 (10). Pick 2: group 1 rows 0-1 (6) beats group 0's rows 0-1 (2).
  const SelectionResult two = sel->select(imp.view(), shape, 2);
  check_structure(imp, shape, 2, two);
  EXPECT_EQ(two.blocks, (std::vector<Block>{Block{0, 2}, Block{1, 0}}));
  EXPECT_DOUBLE_EQ(two.retained_importance, 16.0);
  EXPECT_EQ(two.kept_cells, 6);  // 4 cells in group 0, 2 real cells in group 1
  const SelectionResult three = sel->select(imp.view(), shape, 3);
  EXPECT_EQ(three.blocks, (std::vector<Block>{Block{0, 0}, Block{0, 2}, Block{1, 0}}));
}

TEST(BedSelector, BreaksTiesByLowerColumnGroupThenLowerFirstRow) {
  // Constant 7 x 3, bh = 2: padded to 8 rows, so in every group the window at row 6 scores
  // half of the others. Group 0 takes rows 0, 2, 4 first (each time the lowest live start),
  // then group 1's full-score window beats group 0's half window.
  Matrix imp(7, 3);
  std::fill(imp.values.begin(), imp.values.end(), 1.0f);
  const SelectionResult res = bed()->select(imp.view(), BlockShape{2, 1}, 4);
  check_structure(imp, BlockShape{2, 1}, 4, res);
  EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 0}, Block{0, 2}, Block{0, 4}, Block{1, 0}}));
}

TEST(BedSelector, AllZeroImportanceFillsGroupsInOrder) {
  const Matrix imp(6, 3);
  const BlockShape shape{3, 1};
  const SelectionResult res = bed()->select(imp.view(), shape, 3);
  check_structure(imp, shape, 3, res);
  EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 0}, Block{0, 3}, Block{1, 0}}));
  EXPECT_EQ(res.retained_importance, 0.0);
}

TEST(BedSelector, BudgetZeroIsEmptyAndTheMaximumKeepsEveryCellInAlignedBlocks) {
  const auto sel = bed();
  for (const BlockShape shape : {BlockShape{4, 1}, BlockShape{3, 2}, BlockShape{1, 1}, BlockShape{5, 3}}) {
    const Matrix imp = heuristic_reference::abs_gaussian(11, 7, 5);
    SCOPED_TRACE(to_string(shape));
    const SelectionResult none = sel->select(imp.view(), shape, 0);
    check_structure(imp, shape, 0, none);
    EXPECT_EQ(none.kept_cells, 0);
    EXPECT_EQ(none.retained_importance, 0.0);

    const int64_t max_m = heuristic_reference::max_budget(imp, shape);
    const SelectionResult all = sel->select(imp.view(), shape, max_m);
    check_structure(imp, shape, max_m, all);
    EXPECT_EQ(all.kept_cells, imp.rows * imp.cols);
    EXPECT_NEAR(all.retained_importance, all.total_importance, 1e-9 * all.total_importance);
    // Every row kept: each group is one run, divided from row 0 on.
    for (const Block& b : all.blocks) EXPECT_EQ(b.start_row % shape.rows, 0);
  }
}

TEST(BedSelector, RejectsBudgetsOutsideTheAlignedTileCountWithTheNumbers) {
  const Matrix imp = heuristic_reference::abs_gaussian(8, 4, 6);  // 4x1: 2 tiles x 4 groups
  const auto sel = bed();
  EXPECT_THROW(sel->select(imp.view(), BlockShape{4, 1}, -1), SelectionError);
  try {
    sel->select(imp.view(), BlockShape{4, 1}, 9);
    ADD_FAILURE() << "budget 9 > 8 was accepted";
  } catch (const SelectionError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bed"), std::string::npos) << msg;
    EXPECT_NE(msg.find('9'), std::string::npos) << msg;
    EXPECT_NE(msg.find('8'), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(sel->select(imp.view(), BlockShape{4, 1}, 8));
}

TEST(BedSelector, RejectsNaNAndInfiniteImportanceEvenForBudgetZero) {
  Matrix imp = heuristic_reference::abs_gaussian(6, 3, 7);
  imp(4, 2) = std::numeric_limits<float>::quiet_NaN();
  const auto sel = bed();
  EXPECT_THROW(sel->select(imp.view(), BlockShape{2, 1}, 0), SelectionError);
  EXPECT_THROW(sel->select(imp.view(), BlockShape{2, 1}, 3), SelectionError);
  imp(4, 2) = std::numeric_limits<float>::infinity();
  EXPECT_THROW(sel->select(imp.view(), BlockShape{2, 1}, 3), SelectionError);
}

TEST(BedSelector, HandlesDegenerateAndRaggedShapes) {
  struct Case {
    int64_t rows, cols;
    BlockShape shape;
  };
  const Case cases[] = {
      {1, 1, {1, 1}}, {1, 1, {4, 1}}, {1, 1, {2, 3}}, {1, 9, {1, 1}}, {1, 9, {4, 2}},
      {9, 1, {1, 1}}, {9, 1, {4, 1}}, {9, 1, {2, 3}}, {3, 6, {4, 1}}, {3, 6, {5, 2}},
      {10, 7, {4, 3}}, {65, 2, {4, 1}}, {130, 3, {7, 2}},
  };
  std::mt19937_64 rng(11);
  for (const Case& c : cases) {
    const Matrix imp = integer_matrix(c.rows, c.cols, 3, rng);
    const int64_t max_m = heuristic_reference::max_budget(imp, c.shape);
    for (int64_t m = 0; m <= max_m; m += std::max<int64_t>(1, max_m / 7)) {
      SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.cols) + " " +
                   to_string(c.shape) + " m=" + std::to_string(m));
      const SelectionResult res = bed()->select(imp.view(), c.shape, m);
      check_structure(imp, c.shape, m, res);
      EXPECT_EQ(res.blocks, heuristic_reference::naive_bed(imp, c.shape, m));
    }
  }
}

TEST(BedSelector, PicksExactlyTheBlocksOfTheNaiveProcedureOnRandomInputs) {
  std::mt19937_64 rng(0xBEDBED);
  for (int trial = 0; trial < 600; ++trial) {
    const bool large = trial % 10 == 0;  // bigger grids: many tree buckets, long kept runs
    const int64_t rows = 1 + static_cast<int64_t>(rng() % (large ? 300 : 24));
    const int64_t cols = 1 + static_cast<int64_t>(rng() % (large ? 8 : 6));
    const BlockShape shape{1 + static_cast<int>(rng() % (large ? 12 : 6)),
                           1 + static_cast<int>(rng() % (large ? 2 : 3))};
    const int64_t max_m = heuristic_reference::max_budget(Matrix(rows, cols), shape);
    const int64_t m = static_cast<int64_t>(rng() % static_cast<uint64_t>(max_m + 1));
    // Small integers (exact in double, many ties), mostly-zero matrices, or |Gaussian|.
    Matrix imp;
    switch (trial % 3) {
      case 0:
        imp = integer_matrix(rows, cols, 2, rng);
        break;
      case 1:
        imp = integer_matrix(rows, cols, 1, rng);
        for (float& v : imp.values) v *= static_cast<float>(rng() % 4 == 0);
        break;
      default:
        imp = heuristic_reference::abs_gaussian(rows, cols, rng());
    }
    SCOPED_TRACE("trial " + std::to_string(trial) + ": " + std::to_string(rows) + "x" +
                 std::to_string(cols) + " " + to_string(shape) + " m=" + std::to_string(m));
    const SelectionResult res = bed()->select(imp.view(), shape, m);
    check_structure(imp, shape, m, res);
    ASSERT_EQ(res.blocks, heuristic_reference::naive_bed(imp, shape, m));
  }
}

TEST(BedSelector, MatchesTheNaiveProcedureWhenTheWeightSitsInFewColumnGroups) {
  // Most picks come from a few groups (far more than their even share of the budget), while
  // the other groups get few or none: the uneven case for evaluating groups ahead.
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t rows = 20 + static_cast<int64_t>(rng() % 100);
    const int64_t cols = 4 + static_cast<int64_t>(rng() % 12);
    const BlockShape shape{1 + static_cast<int>(rng() % 5), 1 + static_cast<int>(rng() % 2)};
    Matrix imp = integer_matrix(rows, cols, 3, rng);
    const int64_t heavy = static_cast<int64_t>(rng() % static_cast<uint64_t>(cols));
    for (int64_t r = 0; r < rows; ++r) imp(r, heavy) += 50.0f + static_cast<float>(rng() % 5);
    const int64_t max_m = heuristic_reference::max_budget(imp, shape);
    const int64_t m = static_cast<int64_t>(rng() % static_cast<uint64_t>(max_m + 1));
    SCOPED_TRACE("trial " + std::to_string(trial) + ": " + std::to_string(rows) + "x" +
                 std::to_string(cols) + " " + to_string(shape) + " m=" + std::to_string(m));
    const SelectionResult res = bed()->select(imp.view(), shape, m);
    check_structure(imp, shape, m, res);
    ASSERT_EQ(res.blocks, heuristic_reference::naive_bed(imp, shape, m));
  }
}

TEST(BedSelector, IsDeterministicAndReadsThroughTheRowStride) {
  const Matrix dense = heuristic_reference::abs_gaussian(37, 9, 21);
  Matrix wide(37, 12);
  for (int64_t r = 0; r < 37; ++r) {
    for (int64_t c = 0; c < 12; ++c) wide(r, c) = c < 9 ? dense(r, c) : 1000.0f;
  }
  const MatrixView strided{wide.values.data(), 37, 9, 12};
  const BlockShape shape{4, 2};
  const SelectionResult a = bed()->select(dense.view(), shape, 20);
  const SelectionResult b = bed()->select(dense.view(), shape, 20);
  const SelectionResult c = bed()->select(strided, shape, 20);
  EXPECT_EQ(a.blocks, b.blocks);
  EXPECT_EQ(a.blocks, c.blocks);
  EXPECT_EQ(a.retained_importance, c.retained_importance);
  // A smaller call in between (workspace reuse) changes nothing either.
  bed()->select(heuristic_reference::abs_gaussian(5, 3, 1).view(), BlockShape{2, 1}, 3);
  EXPECT_EQ(bed()->select(dense.view(), shape, 20).blocks, a.blocks);
}

TEST(BedSelector, RetainsAtLeastAsMuchAsGreedyAndAlignedOnGaussianWeights) {
  // 256 x 256, 4x1 blocks, 80% sparsity. Upper bound without any search: the m best window
  // scores, overlapping or not, sum to at least any m disjoint windows.
  const Matrix imp = heuristic_reference::abs_gaussian(256, 256, 2024);
  const BlockShape shape{4, 1};
  const int64_t m = block_budget(256, 256, shape, 0.8);
  const auto& registry = SelectorRegistry::instance();
  const SelectionResult b = registry.create("bed")->select(imp.view(), shape, m);
  const SelectionResult g = registry.create("greedy")->select(imp.view(), shape, m);
  const SelectionResult a = registry.create("aligned")->select(imp.view(), shape, m);
  check_structure(imp, shape, m, b);
  EXPECT_GE(b.retained_importance, g.retained_importance);
  EXPECT_GT(b.retained_importance, a.retained_importance);

  std::vector<double> windows;
  for (int64_t c = 0; c < 256; ++c) {
    for (int64_t s = 0; s + 4 <= 256; ++s) {
      windows.push_back(static_cast<double>(imp(s, c)) + imp(s + 1, c) + imp(s + 2, c) + imp(s + 3, c));
    }
  }
  std::nth_element(windows.begin(), windows.begin() + m, windows.end(), std::greater<>());
  double bound = 0;
  for (int64_t i = 0; i < m; ++i) bound += windows[static_cast<size_t>(i)];
  EXPECT_LE(b.retained_importance, bound * (1 + 1e-12));
  // BED keeps well over 90% of this (loose) bound; aligned selection falls clearly short.
  EXPECT_GT(b.retained_importance / bound, 0.9);
}

}  // namespace
}  // namespace ubp::algorithms
