// Properties every product selector in the registry must have, whichever selectors are linked
// in: exactly the budgeted number of blocks, valid and sorted blocks, honest scores,
// determinism, row-stride awareness, budget errors, and no more retained importance than the
// exact optimum (`optimal`) for the same block shape. Selectors whose name starts with "test-"
// are dummies registered by other tests and are skipped.
//
// `unstructured` is the one product selector with a different problem: it reports 1x1 blocks
// (result.block_shape) and keeps budget * bh * bw single weights; it must keep at least as much
// importance as the optimum, since any block selection is also a selection of single weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
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

std::vector<std::string> product_selectors() {
  std::vector<std::string> out;
  for (const std::string& name : SelectorRegistry::instance().names()) {
    if (name.rfind("test-", 0) != 0) out.push_back(name);
  }
  return out;
}

struct Case {
  std::string label;
  Matrix importance;
  BlockShape shape;
  int64_t budget = 0;
};

Matrix abs_random(int64_t rows, int64_t cols, Distribution dist, uint64_t seed) {
  Matrix m = random_matrix(rows, cols, dist, seed);
  for (float& v : m.values) v = std::fabs(v);
  return m;
}

Matrix small_integers(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Matrix m(rows, cols);
  for (float& v : m.values) v = static_cast<float>(rng() % 3);
  return m;
}

// Matrices of several kinds and shapes, each with budgets from a range of sparsities (those
// budgets keep budget * bh * bw within the real cells, as `unstructured` needs).
std::vector<Case> cases() {
  struct Layer {
    std::string kind;
    Matrix importance;
  };
  std::vector<Layer> layers = {
      {"gaussian 64x48", abs_random(64, 48, Distribution::kGaussian, 1)},
      {"laplace 37x29", abs_random(37, 29, Distribution::kLaplace, 2)},
      {"uniform 16x16", abs_random(16, 16, Distribution::kUniform, 3)},
      {"integers 24x20", small_integers(24, 20, 4)},
      {"zeros 12x10", Matrix(12, 10)},
      {"gaussian 5x3", abs_random(5, 3, Distribution::kGaussian, 5)},
      {"gaussian 1x7", abs_random(1, 7, Distribution::kGaussian, 6)},
  };
  const BlockShape shapes[] = {{4, 1}, {2, 1}, {1, 1}, {3, 2}, {8, 1}, {4, 4}};
  std::vector<Case> out;
  for (const Layer& layer : layers) {
    for (BlockShape shape : shapes) {
      std::vector<int64_t> budgets;
      for (double s : {1.0, 0.95, 0.8, 0.5, 0.25, 0.0}) {
        budgets.push_back(block_budget(layer.importance.rows, layer.importance.cols, shape, s));
      }
      budgets.erase(std::unique(budgets.begin(), budgets.end()), budgets.end());
      for (int64_t m : budgets) {
        out.push_back(Case{layer.kind + " " + to_string(shape) + " m=" + std::to_string(m),
                           layer.importance, shape, m});
      }
    }
  }
  return out;
}

double tolerance(const SelectionResult& r) {
  return 1e-9 * std::max(1.0, std::fabs(r.total_importance));
}

TEST(EveryProductSelector, IncludesTheSelectorsThisLibraryShips) {
  const auto names = product_selectors();
  for (const char* expected : {"aligned", "optimal", "optimal-dp"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
}

TEST(EveryProductSelector, ReturnsExactlyTheBudgetOfValidSortedBlocksWithHonestScores) {
  for (const std::string& name : product_selectors()) {
    const auto sel = SelectorRegistry::instance().create(name);
    for (const Case& c : cases()) {
      SCOPED_TRACE(name + " on " + c.label);
      const SelectionResult res = sel->select(c.importance.view(), c.shape, c.budget);
      const BlockShape got = res.block_shape;
      const bool same_shape = got.rows == c.shape.rows && got.cols == c.shape.cols;
      EXPECT_TRUE(same_shape || (got.rows == 1 && got.cols == 1))
          << "block shape " << to_string(got);
      const int64_t expected_blocks =
          c.budget * c.shape.rows * c.shape.cols / (got.rows * got.cols);
      EXPECT_EQ(static_cast<int64_t>(res.blocks.size()), expected_blocks);
      EXPECT_TRUE(std::is_sorted(res.blocks.begin(), res.blocks.end()));
      const BlockGrid grid = make_grid(c.importance.rows, c.importance.cols, got);
      EXPECT_NO_THROW(validate_blocks(grid, res.blocks, /*require_aligned=*/!sel->unaligned()));

      SelectionResult rescored;
      rescored.block_shape = got;
      rescored.blocks = res.blocks;
      score_selection(c.importance.view(), grid, rescored);
      EXPECT_NEAR(res.retained_importance, rescored.retained_importance, tolerance(rescored));
      EXPECT_NEAR(res.total_importance, rescored.total_importance, tolerance(rescored));
      EXPECT_EQ(res.kept_cells, rescored.kept_cells);
    }
  }
}

TEST(EveryProductSelector, IsDeterministicAcrossCallsAndInstances) {
  for (const std::string& name : product_selectors()) {
    const auto first = SelectorRegistry::instance().create(name);
    for (const Case& c : cases()) {
      SCOPED_TRACE(name + " on " + c.label);
      const SelectionResult a = first->select(c.importance.view(), c.shape, c.budget);
      const SelectionResult b = first->select(c.importance.view(), c.shape, c.budget);
      const SelectionResult fresh = SelectorRegistry::instance().create(name)->select(
          c.importance.view(), c.shape, c.budget);
      EXPECT_EQ(a.blocks, b.blocks);
      EXPECT_EQ(a.blocks, fresh.blocks);
      EXPECT_EQ(a.retained_importance, fresh.retained_importance);
    }
  }
}

TEST(EveryProductSelector, RetainsNoMoreThanTheOptimumForItsBlockShape) {
  // ... and `unstructured`, which keeps single weights, no less.
  const auto optimal = SelectorRegistry::instance().create("optimal");
  for (const Case& c : cases()) {
    const SelectionResult best = optimal->select(c.importance.view(), c.shape, c.budget);
    for (const std::string& name : product_selectors()) {
      SCOPED_TRACE(name + " on " + c.label);
      const SelectionResult res =
          SelectorRegistry::instance().create(name)->select(c.importance.view(), c.shape, c.budget);
      const bool same_shape =
          res.block_shape.rows == c.shape.rows && res.block_shape.cols == c.shape.cols;
      if (same_shape) {
        EXPECT_LE(res.retained_importance, best.retained_importance + tolerance(best));
      } else {
        EXPECT_GE(res.retained_importance, best.retained_importance - tolerance(best));
      }
    }
  }
}

TEST(EveryProductSelector, ReachesTheOptimumWithOneRowBlocks) {
  // With bh = 1 windows cannot overlap, aligned and unaligned coincide, and picking the best
  // remaining block is optimal: every selector, greedy ones included, must reach the optimum.
  const auto optimal = SelectorRegistry::instance().create("optimal");
  for (const Case& c : cases()) {
    if (c.shape.rows != 1) continue;
    const SelectionResult best = optimal->select(c.importance.view(), c.shape, c.budget);
    for (const std::string& name : product_selectors()) {
      SCOPED_TRACE(name + " on " + c.label);
      const SelectionResult res =
          SelectorRegistry::instance().create(name)->select(c.importance.view(), c.shape, c.budget);
      EXPECT_NEAR(res.retained_importance, best.retained_importance, tolerance(best));
    }
  }
}

TEST(EveryProductSelector, ReadsThroughTheRowStrideOfAView) {
  const Matrix dense = abs_random(20, 9, Distribution::kGaussian, 7);
  Matrix wide(20, 13);
  for (int64_t r = 0; r < 20; ++r) {
    for (int64_t c = 0; c < 13; ++c) wide(r, c) = c < 9 ? dense(r, c) : 100.0f;
  }
  const MatrixView strided{wide.values.data(), 20, 9, 13};
  for (const std::string& name : product_selectors()) {
    const auto sel = SelectorRegistry::instance().create(name);
    for (BlockShape shape : {BlockShape{4, 1}, BlockShape{3, 2}}) {
      const int64_t m = block_budget(20, 9, shape, 0.6);
      const SelectionResult a = sel->select(dense.view(), shape, m);
      const SelectionResult b = sel->select(strided, shape, m);
      EXPECT_EQ(a.blocks, b.blocks) << name << " " << to_string(shape);
      EXPECT_EQ(a.retained_importance, b.retained_importance) << name << " " << to_string(shape);
    }
  }
}

TEST(EveryProductSelector, RejectsNegativeBudgetsAndBudgetsAboveTheTileCount) {
  const Matrix imp = abs_random(10, 6, Distribution::kGaussian, 8);
  const BlockShape shape{4, 2};  // Rp = 12: 3 tiles x 3 groups
  for (const std::string& name : product_selectors()) {
    const auto sel = SelectorRegistry::instance().create(name);
    EXPECT_THROW(sel->select(imp.view(), shape, -1), SelectionError) << name;
    EXPECT_THROW(sel->select(imp.view(), shape, 10), SelectionError) << name;
  }
}

}  // namespace
}  // namespace ubp::algorithms
