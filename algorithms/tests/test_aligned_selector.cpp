// The "aligned" selector against an exhaustive reference on small inputs.
//
// The reference here is written independently of the selector: tile scores are summed tile by
// tile, the optimum is found by enumerating every m-subset of tiles, and the documented
// tie order (score descending, then col_group ascending, then start_row ascending) is
// reproduced with a stable sort of the tiles listed in (col_group, start_row) order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/random_matrix.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms {
namespace {

struct Tile {
  Block block;
  double score = 0;
  int64_t real_cells = 0;
};

// Tiles of the padded grid in (col_group, start_row) order, scored from the real cells only.
std::vector<Tile> reference_tiles(const Matrix& imp, BlockShape shape) {
  std::vector<Tile> tiles;
  const int64_t bh = shape.rows, bw = shape.cols;
  const int64_t groups = (imp.cols + bw - 1) / bw;
  const int64_t per_group = std::max<int64_t>(1, (imp.rows + bh - 1) / bh);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t t = 0; t < per_group; ++t) {
      Tile tile;
      tile.block = Block{g, t * bh};
      for (int64_t r = t * bh; r < t * bh + bh; ++r) {
        for (int64_t c = g * bw; c < g * bw + bw; ++c) {
          if (r < imp.rows && c < imp.cols) {
            tile.score += imp(r, c);
            ++tile.real_cells;
          }
        }
      }
      tiles.push_back(tile);
    }
  }
  return tiles;
}

// Best total score over all m-subsets (exhaustive; tiles.size() must be small).
double brute_force_best(const std::vector<Tile>& tiles, int64_t m) {
  const int n = static_cast<int>(tiles.size());
  double best = -std::numeric_limits<double>::infinity();
  for (uint32_t subset = 0; subset < (uint32_t{1} << n); ++subset) {
    int count = 0;
    for (uint32_t s = subset; s; s &= s - 1) ++count;
    if (count != m) continue;
    double sum = 0;
    for (int i = 0; i < n; ++i) {
      if (subset & (uint32_t{1} << i)) sum += tiles[static_cast<size_t>(i)].score;
    }
    best = std::max(best, sum);
  }
  return best;
}

// The set the documented tie order picks, sorted by (col_group, start_row).
std::vector<Block> expected_by_tie_order(std::vector<Tile> tiles, int64_t m) {
  std::stable_sort(tiles.begin(), tiles.end(),
                   [](const Tile& a, const Tile& b) { return a.score > b.score; });
  std::vector<Block> out;
  for (int64_t i = 0; i < m; ++i) out.push_back(tiles[static_cast<size_t>(i)].block);
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<Selector> aligned() { return SelectorRegistry::instance().create("aligned"); }

// Checks every structural property of a selection; returns the kept tiles' summed score.
double check_structure(const Matrix& imp, BlockShape shape, int64_t m,
                       const SelectionResult& res) {
  const BlockGrid grid = make_grid(imp.rows, imp.cols, shape);
  EXPECT_EQ(static_cast<int64_t>(res.blocks.size()), m);
  EXPECT_TRUE(std::is_sorted(res.blocks.begin(), res.blocks.end()));
  EXPECT_NO_THROW(validate_blocks(grid, res.blocks, /*require_aligned=*/true));

  const std::vector<Tile> tiles = reference_tiles(imp, shape);
  double kept_score = 0;
  int64_t kept_real = 0;
  for (const Block& b : res.blocks) {
    const auto it = std::find_if(tiles.begin(), tiles.end(),
                                 [&](const Tile& t) { return t.block == b; });
    EXPECT_NE(it, tiles.end());
    if (it == tiles.end()) continue;
    kept_score += it->score;
    kept_real += it->real_cells;
  }
  EXPECT_EQ(res.kept_cells, kept_real);

  const std::vector<uint8_t> mask = block_mask(grid, res.blocks);
  EXPECT_EQ(mask.size(), static_cast<size_t>(imp.rows * imp.cols));
  int64_t ones = 0;
  double masked_importance = 0, total = 0;
  for (size_t i = 0; i < mask.size(); ++i) {
    EXPECT_TRUE(mask[i] == 0 || mask[i] == 1);
    ones += mask[i];
    if (mask[i]) masked_importance += imp.values[i];
    total += imp.values[i];
  }
  EXPECT_EQ(ones, res.kept_cells);
  const double tol = 1e-9 * std::max(1.0, total);
  EXPECT_NEAR(res.retained_importance, masked_importance, tol);
  EXPECT_NEAR(res.retained_importance, kept_score, tol);
  EXPECT_NEAR(res.total_importance, total, tol);
  return kept_score;
}

// Integer-valued importance in [0, max_value]: exact in double, with plenty of ties.
Matrix integer_matrix(int64_t rows, int64_t cols, int max_value, std::mt19937_64& rng) {
  Matrix m(rows, cols);
  for (float& v : m.values) v = static_cast<float>(rng() % static_cast<uint64_t>(max_value + 1));
  return m;
}

Matrix abs_gaussian(int64_t rows, int64_t cols, uint64_t seed) {
  Matrix m = random_matrix(rows, cols, Distribution::kGaussian, seed);
  for (float& v : m.values) v = std::fabs(v);
  return m;
}

TEST(AlignedSelector, IsNamedAlignedAndIsNotUnaligned) {
  const auto sel = aligned();
  EXPECT_EQ(sel->name(), "aligned");
  EXPECT_FALSE(sel->unaligned());
}

TEST(AlignedSelector, KeepsTheHighestScoringTilesOfASmallExample) {
  // 4x2, 2x1 blocks: tiles (g0,r0)=1+2, (g0,r2)=7+0, (g1,r0)=5+5, (g1,r2)=0+1.
  Matrix imp(4, 2);
  imp(0, 0) = 1; imp(1, 0) = 2; imp(2, 0) = 7; imp(3, 0) = 0;
  imp(0, 1) = 5; imp(1, 1) = 5; imp(2, 1) = 0; imp(3, 1) = 1;
  const SelectionResult res = aligned()->select(imp.view(), BlockShape{2, 1}, 2);
  const std::vector<Block> expected = {Block{0, 2}, Block{1, 0}};
  EXPECT_EQ(res.blocks, expected);
  EXPECT_DOUBLE_EQ(res.retained_importance, 17.0);
  EXPECT_DOUBLE_EQ(res.total_importance, 21.0);
  EXPECT_EQ(res.kept_cells, 4);
}

TEST(AlignedSelector, BreaksTiesByLowerColumnGroupThenLowerStartRow) {
  Matrix imp(4, 3);
  std::fill(imp.values.begin(), imp.values.end(), 1.0f);  // all 6 tiles (2x1) score 2
  const auto sel = aligned();
  EXPECT_EQ(sel->select(imp.view(), BlockShape{2, 1}, 3).blocks,
            (std::vector<Block>{Block{0, 0}, Block{0, 2}, Block{1, 0}}));
  // Raise one late tile: it goes first, the rest still fill in tie order.
  imp(2, 2) = 5;
  EXPECT_EQ(sel->select(imp.view(), BlockShape{2, 1}, 2).blocks,
            (std::vector<Block>{Block{0, 0}, Block{2, 2}}));
}

TEST(AlignedSelector, BudgetZeroGivesAnEmptySelectionButStillTotalsTheImportance) {
  const Matrix imp = abs_gaussian(6, 5, 3);
  const SelectionResult res = aligned()->select(imp.view(), BlockShape{2, 2}, 0);
  EXPECT_TRUE(res.blocks.empty());
  EXPECT_EQ(res.kept_cells, 0);
  EXPECT_EQ(res.retained_importance, 0.0);
  double total = 0;
  for (float v : imp.values) total += v;
  EXPECT_NEAR(res.total_importance, total, 1e-9 * total);
}

TEST(AlignedSelector, BudgetOfAllTilesKeepsEveryRealCell) {
  const Matrix imp = abs_gaussian(7, 5, 4);  // ragged for 3x2: 3 tiles x 3 groups
  const SelectionResult res = aligned()->select(imp.view(), BlockShape{3, 2}, 9);
  EXPECT_EQ(res.blocks.size(), 9u);
  EXPECT_EQ(res.kept_cells, 35);
  EXPECT_NEAR(res.retained_importance, res.total_importance, 1e-12);
}

TEST(AlignedSelector, RejectsNegativeAndOversizedBudgetsWithTheNumbers) {
  const Matrix imp = abs_gaussian(8, 4, 5);  // 4x1: 2 tiles x 4 groups = 8
  const auto sel = aligned();
  EXPECT_THROW(sel->select(imp.view(), BlockShape{4, 1}, -1), SelectionError);
  try {
    sel->select(imp.view(), BlockShape{4, 1}, 9);
    ADD_FAILURE() << "budget 9 > 8 tiles was accepted";
  } catch (const SelectionError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find('9'), std::string::npos) << msg;
    EXPECT_NE(msg.find('8'), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(sel->select(imp.view(), BlockShape{4, 1}, 8));
}

TEST(AlignedSelector, AllZeroImportanceStillReturnsExactlyMBlocksInTieOrder) {
  const Matrix imp(5, 4);
  const BlockShape shape{2, 1};  // 3 tiles x 4 groups
  for (int64_t m = 0; m <= 12; ++m) {
    const SelectionResult res = aligned()->select(imp.view(), shape, m);
    check_structure(imp, shape, m, res);
    EXPECT_EQ(res.blocks, expected_by_tie_order(reference_tiles(imp, shape), m)) << "m=" << m;
    EXPECT_EQ(res.retained_importance, 0.0);
  }
}

TEST(AlignedSelector, HandlesDegenerateShapes) {
  struct Case {
    int64_t rows, cols;
    BlockShape shape;
  };
  const Case cases[] = {
      {1, 1, {1, 1}}, {1, 1, {4, 1}}, {1, 1, {2, 3}},  // single cell, padded blocks
      {1, 9, {1, 1}}, {1, 9, {4, 2}},                  // single row
      {9, 1, {1, 1}}, {9, 1, {4, 1}}, {9, 1, {2, 3}},  // single column, ragged
      {3, 6, {4, 1}}, {3, 6, {5, 2}},                  // rows < bh
      {10, 7, {4, 3}},                                 // ragged rows and columns, bw > 1
  };
  std::mt19937_64 rng(2024);
  for (const Case& c : cases) {
    const Matrix imp = integer_matrix(c.rows, c.cols, 3, rng);
    const std::vector<Tile> tiles = reference_tiles(imp, c.shape);
    for (int64_t m = 0; m <= static_cast<int64_t>(tiles.size()); ++m) {
      SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.cols) + " " +
                   to_string(c.shape) + " m=" + std::to_string(m));
      const SelectionResult res = aligned()->select(imp.view(), c.shape, m);
      const double kept = check_structure(imp, c.shape, m, res);
      EXPECT_EQ(kept, brute_force_best(tiles, m));
      EXPECT_EQ(res.blocks, expected_by_tie_order(tiles, m));
    }
  }
}

TEST(AlignedSelector, MatchesExhaustiveSearchOnRandomSmallInputs) {
  std::mt19937_64 rng(0xABCDEF);
  int cases = 0;
  while (cases < 400) {
    const int64_t rows = 1 + static_cast<int64_t>(rng() % 10);
    const int64_t cols = 1 + static_cast<int64_t>(rng() % 8);
    const BlockShape shape{1 + static_cast<int>(rng() % 4), 1 + static_cast<int>(rng() % 3)};
    const BlockGrid grid = make_grid(rows, cols, shape);
    const int64_t num_tiles = grid.col_groups * grid.aligned_tiles_per_group;
    if (num_tiles > 16) continue;
    ++cases;
    const int64_t m = static_cast<int64_t>(rng() % static_cast<uint64_t>(num_tiles + 1));
    const bool integer_valued = cases % 2 == 0;
    const Matrix imp = integer_valued ? integer_matrix(rows, cols, 2, rng)
                                      : abs_gaussian(rows, cols, rng());
    SCOPED_TRACE("case " + std::to_string(cases) + ": " + std::to_string(rows) + "x" +
                 std::to_string(cols) + " " + to_string(shape) + " m=" + std::to_string(m) +
                 (integer_valued ? " integer" : " gaussian"));

    const auto sel = aligned();
    const SelectionResult res = sel->select(imp.view(), shape, m);
    const std::vector<Tile> tiles = reference_tiles(imp, shape);
    const double kept = check_structure(imp, shape, m, res);
    const double best = brute_force_best(tiles, m);
    if (integer_valued) {
      EXPECT_EQ(kept, best);  // exact: small integers in double
      EXPECT_EQ(res.blocks, expected_by_tie_order(tiles, m));
    } else {
      EXPECT_NEAR(kept, best, 1e-9 * std::max(1.0, best));
    }

    // Deterministic: a second call (and a fresh selector) give the same answer.
    const SelectionResult again = aligned()->select(imp.view(), shape, m);
    EXPECT_EQ(again.blocks, res.blocks);
    EXPECT_EQ(again.retained_importance, res.retained_importance);
    EXPECT_EQ(again.kept_cells, res.kept_cells);
  }
}

TEST(AlignedSelector, AcceptsTheBudgetComputedForAnySparsity) {
  const Matrix imp = abs_gaussian(13, 11, 6);
  for (BlockShape shape : {BlockShape{4, 1}, BlockShape{2, 3}, BlockShape{5, 2}}) {
    for (double s : {0.0, 0.25, 0.5, 0.7, 0.9, 1.0}) {
      const int64_t m = block_budget(imp.rows, imp.cols, shape, s);
      const SelectionResult res = aligned()->select(imp.view(), shape, m);
      check_structure(imp, shape, m, res);
    }
  }
}

TEST(AlignedSelector, WorksOnAStridedView) {
  // The selector must read through row_stride, not assume a dense matrix.
  const Matrix dense = abs_gaussian(6, 4, 11);
  Matrix wide(6, 7);
  for (int64_t r = 0; r < 6; ++r) {
    for (int64_t c = 0; c < 7; ++c) wide(r, c) = c < 4 ? dense(r, c) : 1000.0f;
  }
  const MatrixView strided{wide.values.data(), 6, 4, 7};
  const auto sel = aligned();
  const SelectionResult a = sel->select(dense.view(), BlockShape{2, 2}, 3);
  const SelectionResult b = sel->select(strided, BlockShape{2, 2}, 3);
  EXPECT_EQ(a.blocks, b.blocks);
  EXPECT_EQ(a.retained_importance, b.retained_importance);
  EXPECT_EQ(a.total_importance, b.total_importance);
}

}  // namespace
}  // namespace ubp::algorithms
