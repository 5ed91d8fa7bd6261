// The "unstructured" reference selector: the budget * bh * bw most important single weights,
// reported as 1x1 blocks (col_group = column, start_row = row).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "heuristic_reference.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms {
namespace {

std::unique_ptr<Selector> unstructured() {
  return SelectorRegistry::instance().create("unstructured");
}

// The documented order by brute force: stable sort of row-major cells by importance, keep k.
std::vector<Block> expected_cells(const Matrix& imp, int64_t k) {
  std::vector<int64_t> order(static_cast<size_t>(imp.rows * imp.cols));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return imp.values[static_cast<size_t>(x)] > imp.values[static_cast<size_t>(y)];
  });
  std::vector<Block> out;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t cell = order[static_cast<size_t>(i)];
    out.push_back(Block{cell % imp.cols, cell / imp.cols});
  }
  std::sort(out.begin(), out.end());
  return out;
}

void check_structure(const Matrix& imp, int64_t cells, const SelectionResult& res) {
  EXPECT_EQ(res.block_shape.rows, 1);
  EXPECT_EQ(res.block_shape.cols, 1);
  EXPECT_EQ(static_cast<int64_t>(res.blocks.size()), cells);
  EXPECT_TRUE(std::is_sorted(res.blocks.begin(), res.blocks.end()));
  const BlockGrid cell_grid = make_grid(imp.rows, imp.cols, BlockShape{1, 1});
  EXPECT_NO_THROW(validate_blocks(cell_grid, res.blocks, /*require_aligned=*/true));
  EXPECT_EQ(res.kept_cells, cells);
  double total = 0;
  for (float v : imp.values) total += v;
  const double tol = 1e-9 * std::max(1.0, total);
  EXPECT_NEAR(res.total_importance, total, tol);
  EXPECT_NEAR(res.retained_importance, heuristic_reference::covered(imp, BlockShape{1, 1}, res.blocks), tol);
}

TEST(UnstructuredSelector, IsNamedUnstructuredAndIsUnaligned) {
  const auto sel = unstructured();
  EXPECT_EQ(sel->name(), "unstructured");
  EXPECT_TRUE(sel->unaligned());
}

TEST(UnstructuredSelector, KeepsBudgetTimesBlockAreaOfTheLargestWeightsAsOneByOneBlocks) {
  // 3 x 3, budget 2 blocks of 2x1 -> the 4 largest cells: 9 (1,1), 8 (2,0), 7 (0,2), 6 (2,2).
  Matrix imp(3, 3);
  imp.values = {1, 2, 7, 3, 9, 5, 8, 4, 6};
  const SelectionResult res = unstructured()->select(imp.view(), BlockShape{2, 1}, 2);
  check_structure(imp, 4, res);
  // Sorted by (col_group = column, start_row = row).
  EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 2}, Block{1, 1}, Block{2, 0}, Block{2, 2}}));
  EXPECT_DOUBLE_EQ(res.retained_importance, 30.0);
}

TEST(UnstructuredSelector, BreaksTiesByLowerRowMajorIndex) {
  Matrix imp(3, 3);
  std::fill(imp.values.begin(), imp.values.end(), 1.0f);
  const SelectionResult res = unstructured()->select(imp.view(), BlockShape{2, 1}, 2);
  // Cells 0..3 in row-major order: (0,0), (0,1), (0,2), (1,0).
  EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 0}, Block{0, 1}, Block{1, 0}, Block{2, 0}}));
  imp(2, 2) = 2;
  EXPECT_EQ(unstructured()->select(imp.view(), BlockShape{1, 1}, 2).blocks,
            (std::vector<Block>{Block{0, 0}, Block{2, 2}}));
}

TEST(UnstructuredSelector, CapsTheCellCountAtTheRealMatrix) {
  // 3 x 3 with 2x2 blocks: the padded grid holds 4 blocks = 16 cells, the matrix only 9.
  const Matrix imp = heuristic_reference::abs_gaussian(3, 3, 4);
  const SelectionResult res = unstructured()->select(imp.view(), BlockShape{2, 2}, 4);
  check_structure(imp, 9, res);
  EXPECT_NEAR(res.retained_importance, res.total_importance, 1e-12);
  EXPECT_EQ(unstructured()->select(imp.view(), BlockShape{2, 2}, 2).blocks.size(), 8u);
}

TEST(UnstructuredSelector, ValidatesTheBudgetInUnitsOfTheRequestedBlocks) {
  Matrix imp = heuristic_reference::abs_gaussian(8, 4, 6);  // 4x1: 8 blocks at most
  const auto sel = unstructured();
  EXPECT_THROW(sel->select(imp.view(), BlockShape{4, 1}, -1), SelectionError);
  EXPECT_THROW(sel->select(imp.view(), BlockShape{4, 1}, 9), SelectionError);
  check_structure(imp, 32, sel->select(imp.view(), BlockShape{4, 1}, 8));
  const SelectionResult none = sel->select(imp.view(), BlockShape{4, 1}, 0);
  check_structure(imp, 0, none);
  imp(1, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(sel->select(imp.view(), BlockShape{4, 1}, 0), SelectionError);
  EXPECT_THROW(sel->select(imp.view(), BlockShape{4, 1}, 3), SelectionError);
}

TEST(UnstructuredSelector, MatchesABruteForceSortOnRandomInputsWithTies) {
  std::mt19937_64 rng(77);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t rows = 1 + static_cast<int64_t>(rng() % 12);
    const int64_t cols = 1 + static_cast<int64_t>(rng() % 12);
    const BlockShape shape{1 + static_cast<int>(rng() % 4), 1 + static_cast<int>(rng() % 3)};
    Matrix imp(rows, cols);
    for (float& v : imp.values) v = static_cast<float>(rng() % 4);
    const int64_t max_m = heuristic_reference::max_budget(imp, shape);
    const int64_t m = static_cast<int64_t>(rng() % static_cast<uint64_t>(max_m + 1));
    const int64_t cells = std::min(rows * cols, m * shape.rows * shape.cols);
    SCOPED_TRACE("trial " + std::to_string(trial));
    const SelectionResult res = unstructured()->select(imp.view(), shape, m);
    check_structure(imp, cells, res);
    EXPECT_EQ(res.blocks, expected_cells(imp, cells));
  }
}

TEST(UnstructuredSelector, RetainsAtLeastAsMuchAsAnyBlockSelectorAtTheSameCellCount) {
  const Matrix imp = heuristic_reference::abs_gaussian(64, 48, 9);  // no padding for 4x1
  const BlockShape shape{4, 1};
  const int64_t m = block_budget(64, 48, shape, 0.75);
  const SelectionResult u = unstructured()->select(imp.view(), shape, m);
  EXPECT_EQ(u.kept_cells, m * 4);
  for (const std::string name : {"aligned", "bed", "greedy"}) {
    const SelectionResult b = SelectorRegistry::instance().create(name)->select(imp.view(), shape, m);
    EXPECT_EQ(b.kept_cells, u.kept_cells) << name;
    EXPECT_GE(u.retained_importance, b.retained_importance) << name;
  }
}

}  // namespace
}  // namespace ubp::algorithms
