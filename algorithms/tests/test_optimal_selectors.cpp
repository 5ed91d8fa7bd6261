// The exact unaligned selectors, `optimal` and `optimal-dp` (docs/method.md sections 4.2 and 4.3), against an
// exhaustive search, against each other, and the concavity of the per-column curve F_c(k) on
// which `optimal` rests. The references live in unaligned_reference.h and share no code with the
// selectors; a few white-box tests also exercise the DP helpers of src/internal directly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../src/internal/optimal_diagnostics.h"
#include "../src/internal/window_dp.h"
#include "../src/internal/window_table.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/random_matrix.h"
#include "ubp/algorithms/selector.h"
#include "unaligned_reference.h"

namespace ubp::algorithms {
namespace {

const char* const kExact[] = {"optimal", "optimal-dp"};

std::unique_ptr<Selector> make(const std::string& name, const SelectorOptions& options = {}) {
  return SelectorRegistry::instance().create(name, options);
}

std::string describe(const Matrix& imp, BlockShape shape, int64_t m) {
  return std::to_string(imp.rows) + "x" + std::to_string(imp.cols) + " " + to_string(shape) +
         " m=" + std::to_string(m);
}

// Structural checks every unaligned result must pass; returns the covered importance,
// recomputed from the matrix.
double check_result(const Matrix& imp, BlockShape shape, int64_t m, const SelectionResult& res) {
  const BlockGrid grid = make_grid(imp.rows, imp.cols, shape);
  EXPECT_EQ(res.block_shape.rows, shape.rows);
  EXPECT_EQ(res.block_shape.cols, shape.cols);
  EXPECT_EQ(static_cast<int64_t>(res.blocks.size()), m);
  EXPECT_TRUE(std::is_sorted(res.blocks.begin(), res.blocks.end()));
  EXPECT_NO_THROW(validate_blocks(grid, res.blocks, /*require_aligned=*/false));
  const double covered = reference::covered_importance(imp, shape, res.blocks);
  double total = 0, scale = 1;
  for (float v : imp.values) {
    total += v;
    scale = std::max(scale, std::fabs(static_cast<double>(v)));
  }
  const double tol = 1e-9 * scale * static_cast<double>(imp.values.size());
  EXPECT_NEAR(res.retained_importance, covered, tol);
  EXPECT_NEAR(res.total_importance, total, tol);
  return covered;
}

// Both exact selectors reach the brute-force optimum (exactly on integer-valued input) and are
// deterministic.
void expect_both_optimal(const Matrix& imp, BlockShape shape, int64_t m, bool exact_values) {
  SCOPED_TRACE(describe(imp, shape, m));
  const double best = reference::brute_force_best(imp, shape, m);
  double scale = 1;
  for (float v : imp.values) scale = std::max(scale, std::fabs(static_cast<double>(v)));
  for (const char* name : kExact) {
    SCOPED_TRACE(name);
    const auto sel = make(name);
    const SelectionResult res = sel->select(imp.view(), shape, m);
    const double covered = check_result(imp, shape, m, res);
    if (exact_values) {
      EXPECT_EQ(covered, best);
    } else {
      EXPECT_NEAR(covered, best, 1e-9 * scale * static_cast<double>(imp.values.size()));
    }
    EXPECT_EQ(sel->select(imp.view(), shape, m).blocks, res.blocks) << "not deterministic";
  }
}

Matrix integer_matrix(int64_t rows, int64_t cols, int lo, int hi, std::mt19937_64& rng) {
  Matrix m(rows, cols);
  const uint64_t span = static_cast<uint64_t>(hi - lo + 1);
  for (float& v : m.values) v = static_cast<float>(lo + static_cast<int>(rng() % span));
  return m;
}

Matrix abs_gaussian(int64_t rows, int64_t cols, uint64_t seed) {
  Matrix m = random_matrix(rows, cols, Distribution::kGaussian, seed);
  for (float& v : m.values) v = std::fabs(v);
  return m;
}

int64_t max_budget(const Matrix& imp, BlockShape shape) {
  const BlockGrid g = make_grid(imp.rows, imp.cols, shape);
  return g.col_groups * g.aligned_tiles_per_group;
}

int64_t random_budget(const Matrix& imp, BlockShape shape, std::mt19937_64& rng) {
  return static_cast<int64_t>(rng() % static_cast<uint64_t>(max_budget(imp, shape) + 1));
}

// A random small case whose windows the brute force can enumerate.
struct SmallCase {
  int64_t rows, cols;
  BlockShape shape;
};
SmallCase random_small_case(std::mt19937_64& rng) {
  while (true) {
    SmallCase c{1 + static_cast<int64_t>(rng() % 10), 1 + static_cast<int64_t>(rng() % 6),
                BlockShape{1 + static_cast<int>(rng() % 5), 1 + static_cast<int>(rng() % 3)}};
    const Matrix probe(c.rows, c.cols);
    if (reference::window_count(probe, c.shape) <= 16) return c;
  }
}

// ---------------------------------------------------------------------------------------------
// Identity and hand-checked examples

TEST(ExactSelectors, AreRegisteredAsUnalignedUnderTheirNames) {
  for (const char* name : kExact) {
    ASSERT_TRUE(SelectorRegistry::instance().contains(name)) << name;
    const auto sel = make(name);
    EXPECT_EQ(sel->name(), name);
    EXPECT_TRUE(sel->unaligned());
  }
}

TEST(ExactSelectors, ShiftAWindowOffTheAlignedGridWhenThatScoresHigher) {
  Matrix imp(4, 1);  // 2x1 blocks: aligned tiles score 5 and 5, the window at row 1 scores 10
  imp(0, 0) = 0; imp(1, 0) = 5; imp(2, 0) = 5; imp(3, 0) = 0;
  for (const char* name : kExact) {
    const SelectionResult res = make(name)->select(imp.view(), BlockShape{2, 1}, 1);
    EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 1}})) << name;
    EXPECT_EQ(res.retained_importance, 10.0) << name;
  }
  EXPECT_EQ(make("aligned")->select(imp.view(), BlockShape{2, 1}, 1).retained_importance, 5.0);
}

TEST(ExactSelectors, GiveUpTheBestSingleWindowWhenTwoOthersTogetherScoreMore) {
  // 2x1 windows: w = 5, 6, 5, 2, 0. Taking the best window (row 1) first allows at most 6 + 2;
  // the optimum for two blocks is rows 0 and 2: 5 + 5 = 10.
  Matrix imp(6, 1);
  const float a[] = {2, 3, 3, 2, 0, 0};
  for (int r = 0; r < 6; ++r) imp(r, 0) = a[r];
  for (const char* name : kExact) {
    const SelectionResult res = make(name)->select(imp.view(), BlockShape{2, 1}, 2);
    EXPECT_EQ(res.blocks, (std::vector<Block>{Block{0, 0}, Block{0, 2}})) << name;
    EXPECT_EQ(res.retained_importance, 10.0) << name;
  }
}

TEST(ExactSelectors, SplitTheBudgetAcrossColumnGroupsByMarginalGain) {
  // 2x1 windows. Group 0 (0 9 0 0): 9, 9, 0, so its second block adds nothing. Group 1
  // (3 3 3 3): 6, 6, 6, two disjoint blocks worth 12. m = 2: one each (9 + 6 = 15);
  // m = 3: one in group 0 and two in group 1 (9 + 12 = 21), not two in group 0 (9 + 0 + 6).
  // Group 0's windows at rows 0 and 1 tie; the documented rule takes the earlier one.
  Matrix imp(4, 2);
  const float g0[] = {0, 9, 0, 0}, g1[] = {3, 3, 3, 3};
  for (int r = 0; r < 4; ++r) {
    imp(r, 0) = g0[r];
    imp(r, 1) = g1[r];
  }
  for (const char* name : kExact) {
    const auto sel = make(name);
    const SelectionResult two = sel->select(imp.view(), BlockShape{2, 1}, 2);
    EXPECT_EQ(two.retained_importance, 15.0) << name;
    ASSERT_EQ(two.blocks.size(), 2u) << name;
    EXPECT_EQ(two.blocks[0].col_group, 0) << name;
    EXPECT_EQ(two.blocks[1].col_group, 1) << name;
    const SelectionResult three = sel->select(imp.view(), BlockShape{2, 1}, 3);
    EXPECT_EQ(three.retained_importance, 21.0) << name;
    EXPECT_EQ(three.blocks, (std::vector<Block>{Block{0, 0}, Block{1, 0}, Block{1, 2}})) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// Against the exhaustive search

TEST(ExactSelectors, MatchBruteForceOnRandomIntegerMatricesWithManyTies) {
  std::mt19937_64 rng(101);
  for (int i = 0; i < 300; ++i) {
    const SmallCase c = random_small_case(rng);
    const Matrix imp = integer_matrix(c.rows, c.cols, 0, 2, rng);
    const int64_t m = random_budget(imp, c.shape, rng);
    expect_both_optimal(imp, c.shape, m, /*exact_values=*/true);
  }
}

TEST(ExactSelectors, MatchBruteForceOnRandomRealValuedMatrices) {
  std::mt19937_64 rng(202);
  for (int i = 0; i < 300; ++i) {
    const SmallCase c = random_small_case(rng);
    const Matrix imp = abs_gaussian(c.rows, c.cols, rng());
    const int64_t m = random_budget(imp, c.shape, rng);
    expect_both_optimal(imp, c.shape, m, /*exact_values=*/false);
  }
}

TEST(ExactSelectors, MatchBruteForceOnMixedSignImportance) {
  // Importance is non-negative in practice, but nothing in the method needs it: with negative
  // values "exactly m blocks" forces some losses, and the optimum must still be found.
  std::mt19937_64 rng(303);
  for (int i = 0; i < 150; ++i) {
    const SmallCase c = random_small_case(rng);
    const Matrix imp = integer_matrix(c.rows, c.cols, -3, 3, rng);
    const int64_t m = random_budget(imp, c.shape, rng);
    expect_both_optimal(imp, c.shape, m, /*exact_values=*/true);
  }
}

TEST(ExactSelectors, MatchBruteForceOnAllZeroAndConstantImportance) {
  std::mt19937_64 rng(404);
  for (int i = 0; i < 25; ++i) {
    const SmallCase c = random_small_case(rng);
    for (float value : {0.0f, 1.0f, 7.0f}) {
      Matrix imp(c.rows, c.cols);
      std::fill(imp.values.begin(), imp.values.end(), value);
      for (int64_t m = 0; m <= max_budget(imp, c.shape); ++m) {
        expect_both_optimal(imp, c.shape, m, /*exact_values=*/true);
      }
    }
  }
}

TEST(ExactSelectors, MatchBruteForceWithHugeValuesNextToSmallOnes) {
  std::mt19937_64 rng(505);
  for (int i = 0; i < 100; ++i) {
    const SmallCase c = random_small_case(rng);
    Matrix imp = abs_gaussian(c.rows, c.cols, rng());
    for (float& v : imp.values) {
      if (rng() % 4 == 0) v = 1e30f;
    }
    const int64_t m = random_budget(imp, c.shape, rng);
    expect_both_optimal(imp, c.shape, m, /*exact_values=*/false);
  }
}

TEST(ExactSelectors, HandleBlocksAsTallAsOrTallerThanTheMatrix) {
  std::mt19937_64 rng(606);
  for (int64_t rows : {1, 3, 4}) {
    for (int bh : {static_cast<int>(rows), static_cast<int>(rows) + 2}) {
      for (int bw : {1, 2}) {
        const Matrix imp = integer_matrix(rows, 5, 0, 4, rng);
        const BlockShape shape{bh, bw};
        for (int64_t m = 0; m <= max_budget(imp, shape); ++m) {
          expect_both_optimal(imp, shape, m, /*exact_values=*/true);
        }
      }
    }
  }
}

TEST(ExactSelectors, HandleRaggedRowsAndWideRaggedColumnGroups) {
  std::mt19937_64 rng(707);
  const struct {
    int64_t rows, cols;
    BlockShape shape;
  } cases[] = {{5, 3, {2, 2}}, {5, 7, {3, 3}}, {6, 4, {4, 3}}, {7, 2, {4, 1}},
               {3, 8, {2, 3}}, {7, 3, {3, 2}}};
  for (const auto& c : cases) {
    const Matrix imp = integer_matrix(c.rows, c.cols, 0, 5, rng);
    ASSERT_LE(reference::window_count(imp, c.shape), 16);
    for (int64_t m = 0; m <= max_budget(imp, c.shape); ++m) {
      expect_both_optimal(imp, c.shape, m, /*exact_values=*/true);
    }
  }
}

TEST(ExactSelectors, AtZeroBudgetKeepNothingAndAtTheMaximumKeepEveryAlignedTile) {
  const Matrix imp = abs_gaussian(10, 7, 8);  // 4x3: Rp = 12, 3 groups, 3 tiles each
  const BlockShape shape{4, 3};
  std::vector<Block> all_tiles;
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t r = 0; r < 12; r += 4) all_tiles.push_back(Block{c, r});
  }
  for (const char* name : kExact) {
    const auto sel = make(name);
    const SelectionResult none = sel->select(imp.view(), shape, 0);
    EXPECT_TRUE(none.blocks.empty()) << name;
    EXPECT_EQ(none.retained_importance, 0.0) << name;
    EXPECT_GT(none.total_importance, 0.0) << name;
    const SelectionResult full = sel->select(imp.view(), shape, 9);
    EXPECT_EQ(full.blocks, all_tiles) << name;
    EXPECT_EQ(full.kept_cells, 70) << name;
    EXPECT_NEAR(full.retained_importance, full.total_importance, 1e-9) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// Documented tie-breaking and determinism

TEST(ExactSelectors, OnEqualImportancePackTheFirstAlignedTilesInOrder) {
  // Every selection with the right count is optimal; both selectors document that ties place
  // blocks as early as possible, which is the aligned tiles in (col_group, start_row) order.
  for (float value : {0.0f, 2.5f}) {
    Matrix imp(8, 3);
    std::fill(imp.values.begin(), imp.values.end(), value);
    const BlockShape shape{2, 1};
    for (int64_t m = 0; m <= 12; ++m) {
      std::vector<Block> expected;
      for (int64_t i = 0; i < m; ++i) expected.push_back(Block{i / 4, (i % 4) * 2});
      for (const char* name : kExact) {
        EXPECT_EQ(make(name)->select(imp.view(), shape, m).blocks, expected)
            << name << " value=" << value << " m=" << m;
      }
    }
  }
}

TEST(ExactSelectors, AreDeterministicAcrossCallsAndInstances) {
  std::mt19937_64 rng(808);
  for (int i = 0; i < 20; ++i) {
    const Matrix imp = integer_matrix(24, 12, 0, 3, rng);  // many ties
    const BlockShape shape{1 + static_cast<int>(rng() % 4), 1 + static_cast<int>(rng() % 2)};
    const int64_t m = block_budget(imp.rows, imp.cols, shape, 0.6);
    for (const char* name : kExact) {
      const SelectionResult a = make(name)->select(imp.view(), shape, m);
      const SelectionResult b = make(name)->select(imp.view(), shape, m);
      EXPECT_EQ(a.blocks, b.blocks) << name;
      EXPECT_EQ(a.retained_importance, b.retained_importance) << name;
    }
  }
}

TEST(ExactSelectors, ReadThroughTheRowStrideOfAView) {
  const Matrix dense = abs_gaussian(9, 5, 12);
  Matrix wide(9, 8);
  for (int64_t r = 0; r < 9; ++r) {
    for (int64_t c = 0; c < 8; ++c) wide(r, c) = c < 5 ? dense(r, c) : 1000.0f;
  }
  const MatrixView strided{wide.values.data(), 9, 5, 8};
  for (const char* name : kExact) {
    const auto sel = make(name);
    const SelectionResult a = sel->select(dense.view(), BlockShape{3, 2}, 5);
    const SelectionResult b = sel->select(strided, BlockShape{3, 2}, 5);
    EXPECT_EQ(a.blocks, b.blocks) << name;
    EXPECT_EQ(a.retained_importance, b.retained_importance) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// Larger layers: the two exact methods (and the per-group curve solution) agree

TEST(ExactSelectors, AgreeWithEachOtherOnMediumLayers) {
  std::mt19937_64 rng(909);
  for (BlockShape shape :
       {BlockShape{4, 1}, BlockShape{2, 1}, BlockShape{3, 2}, BlockShape{8, 1}}) {
    for (double sparsity : {0.3, 0.8, 0.95}) {
      for (bool integer_valued : {true, false}) {
        const Matrix imp = integer_valued ? integer_matrix(50, 40, 0, 9, rng)
                                          : abs_gaussian(50, 40, rng());
        const int64_t m = block_budget(imp.rows, imp.cols, shape, sparsity);
        SCOPED_TRACE(describe(imp, shape, m) + (integer_valued ? " integer" : " gaussian"));
        const SelectionResult fast = make("optimal")->select(imp.view(), shape, m);
        const SelectionResult dp = make("optimal-dp")->select(imp.view(), shape, m);
        check_result(imp, shape, m, fast);
        check_result(imp, shape, m, dp);
        if (integer_valued) {
          EXPECT_EQ(fast.retained_importance, dp.retained_importance);
        } else {
          EXPECT_NEAR(fast.retained_importance, dp.retained_importance, 1e-9 * dp.total_importance);
        }
      }
    }
  }
}

TEST(ExactSelectors, OptimalMatchesThePerGroupCurveSolutionOnLargerLayers) {
  // 256 column groups exercise the price search's pinning of settled groups; quantised values
  // give plateaus in F_c that the search must land on exactly.
  for (int quantum : {0, 1, 8}) {
    Matrix imp = abs_gaussian(128, 256, 31 + static_cast<uint64_t>(quantum));
    if (quantum > 0) {
      for (float& v : imp.values) v = std::round(v * static_cast<float>(quantum));
    }
    for (double sparsity : {0.5, 0.8, 0.9}) {
      const BlockShape shape{4, 1};
      const int64_t m = block_budget(imp.rows, imp.cols, shape, sparsity);
      SCOPED_TRACE(describe(imp, shape, m) + " quantum=" + std::to_string(quantum));
      const BlockGrid grid = make_grid(imp.rows, imp.cols, shape);
      const internal::WindowTable table = internal::build_window_table(imp.view(), grid, "test");
      SelectionResult curves;
      curves.block_shape = shape;
      curves.blocks = internal::solve_by_curves(table, m);
      score_selection(imp.view(), grid, curves);
      const SelectionResult fast = make("optimal")->select(imp.view(), shape, m);
      check_result(imp, shape, m, fast);
      check_result(imp, shape, m, curves);
      if (quantum > 0) {
        EXPECT_EQ(fast.retained_importance, curves.retained_importance);
      } else {
        EXPECT_NEAR(fast.retained_importance, curves.retained_importance,
                    1e-9 * curves.total_importance);
      }
    }
  }
}

TEST(ExactSelectors, OptimalNeverFallsBackToItsSafetyNetOnTheseInputs) {
  // The safety net only guards against rounding; on integer-valued input (exact in double) and on
  // these seeded real-valued layers the price search and the walk back must succeed by
  // themselves, or a broken fast path would hide behind the slow exact fallback.
  auto& counters = internal::optimal_fallbacks();
  const int64_t layer_before = counters.whole_layer.load(), groups_before = counters.groups.load();
  const auto sel = make("optimal");
  std::mt19937_64 rng(1313);
  for (int i = 0; i < 300; ++i) {
    const SmallCase c = random_small_case(rng);
    const Matrix imp = integer_matrix(c.rows, c.cols, i % 3 == 0 ? -2 : 0, 3, rng);
    for (int64_t m = 0; m <= max_budget(imp, c.shape); ++m) sel->select(imp.view(), c.shape, m);
  }
  for (int quantum : {0, 1, 3, 50}) {
    for (BlockShape shape : {BlockShape{4, 1}, BlockShape{2, 1}, BlockShape{3, 2}}) {
      Matrix imp = abs_gaussian(96, 160, 77 + static_cast<uint64_t>(quantum));
      if (quantum > 0) {
        for (float& v : imp.values) v = std::round(v * static_cast<float>(quantum));
      }
      for (double sparsity : {0.1, 0.5, 0.8, 0.97}) {
        sel->select(imp.view(), shape, block_budget(imp.rows, imp.cols, shape, sparsity));
      }
    }
  }
  EXPECT_EQ(counters.whole_layer.load(), layer_before);
  EXPECT_EQ(counters.groups.load(), groups_before);
}

TEST(ExactSelectors, PerGroupCurveSolutionMatchesBruteForce) {
  std::mt19937_64 rng(1010);
  for (int i = 0; i < 200; ++i) {
    const SmallCase c = random_small_case(rng);
    const Matrix imp = integer_matrix(c.rows, c.cols, 0, 3, rng);
    const BlockGrid grid = make_grid(imp.rows, imp.cols, c.shape);
    const int64_t m = random_budget(imp, c.shape, rng);
    SCOPED_TRACE(describe(imp, c.shape, m));
    const internal::WindowTable table = internal::build_window_table(imp.view(), grid, "test");
    const std::vector<Block> blocks = internal::solve_by_curves(table, m);
    EXPECT_EQ(static_cast<int64_t>(blocks.size()), m);
    EXPECT_NO_THROW(validate_blocks(grid, blocks, false));
    EXPECT_EQ(reference::covered_importance(imp, c.shape, blocks),
              reference::brute_force_best(imp, c.shape, m));
  }
}

// ---------------------------------------------------------------------------------------------
// Concavity of F_c(k), the fact `optimal` relies on

// F(k+1) - F(k) <= F(k) - F(k-1) for every k, exactly (integer-valued columns).
void expect_concave(const std::vector<double>& a, int bh) {
  const std::vector<double> f = reference::reference_curve(a, bh);
  for (size_t k = 1; k + 1 < f.size(); ++k) {
    ASSERT_LE(f[k + 1] - f[k], f[k] - f[k - 1])
        << "bh=" << bh << " k=" << k << " column of " << a.size() << " rows";
  }
}

TEST(ColumnCurve, IsConcaveOnRandomColumns) {
  std::mt19937_64 rng(1111);
  for (int i = 0; i < 3000; ++i) {
    const int bh = 1 + static_cast<int>(rng() % 6);
    const int64_t rows = bh * (1 + static_cast<int64_t>(rng() % 12));
    const int spread = 1 + static_cast<int>(rng() % 1000);
    const bool mixed_sign = rng() % 4 == 0;
    std::vector<double> a(static_cast<size_t>(rows));
    for (double& v : a) {
      v = static_cast<double>(rng() % static_cast<uint64_t>(spread + 1));
      if (mixed_sign) v -= spread / 2;
    }
    expect_concave(a, bh);
  }
}

TEST(ColumnCurve, IsConcaveOnEverySmallColumnOverAThreeValueAlphabet) {
  // Exhaustive: every column of 9 rows over {0, 1, 5} (19683 columns), for bh = 2, 3, 4 (rows
  // beyond the last whole block are left out, as padding would be zero anyway).
  const double alphabet[] = {0, 1, 5};
  for (int bh : {2, 3, 4}) {
    const int rows = 9 - 9 % bh;
    int64_t columns = 1;
    for (int r = 0; r < rows; ++r) columns *= 3;
    for (int64_t code = 0; code < columns; ++code) {
      std::vector<double> a(static_cast<size_t>(rows));
      int64_t x = code;
      for (double& v : a) {
        v = alphabet[x % 3];
        x /= 3;
      }
      expect_concave(a, bh);
    }
  }
}

TEST(ColumnCurve, IsConcaveOnAdversarialColumns) {
  std::vector<std::vector<double>> columns;
  const int n = 48;
  auto add = [&](auto value_of_row) {
    std::vector<double> a(n);
    for (int r = 0; r < n; ++r) a[static_cast<size_t>(r)] = value_of_row(r);
    columns.push_back(a);
  };
  for (int period = 2; period <= 9; ++period) {
    add([&](int r) { return r % period == 0 ? 10.0 : 0.0; });         // spikes
    add([&](int r) { return r % period == 0 ? 0.0 : 3.0; });          // gaps
    add([&](int r) { return (r / period) % 2 == 0 ? 4.0 : 1.0; });    // bands
    add([&](int r) { return static_cast<double>(r % period); });      // saw teeth
  }
  add([](int r) { return static_cast<double>(r); });                  // ramps
  add([](int r) { return static_cast<double>(n - r); });
  add([](int r) { return static_cast<double>((r - n / 2) * (r - n / 2)); });  // valley
  add([](int r) { return static_cast<double>(-(r - n / 2) * (r - n / 2)); }); // hill
  add([](int r) { return r == 0 || r == n - 1 ? 100.0 : 1.0; });      // ends heavy
  add([](int r) { return r == 5 || r == 6 || r == 9 ? 50.0 : 0.0; }); // near-overlapping peaks
  add([](int r) { return r % 2 == 0 ? 1e12 : 1.0; });                 // huge next to tiny
  add([](int r) { return r % 3 == 0 ? -7.0 : 2.0; });                 // mixed signs
  std::vector<double> fib(n);
  fib[0] = fib[1] = 1;
  for (size_t r = 2; r < fib.size(); ++r) fib[r] = std::fmod(fib[r - 1] + fib[r - 2], 97.0);
  columns.push_back(fib);
  for (const auto& a : columns) {
    for (int bh = 1; bh <= 8; ++bh) {
      std::vector<double> trimmed(a.begin(), a.begin() + (n - n % bh));
      expect_concave(trimmed, bh);
    }
  }
}

TEST(ColumnCurve, OfTheSharedDpEqualsTheReferenceCurve) {
  // White box: the DP of src/internal (behind `optimal-dp` and the safety net of `optimal`)
  // computes the same F_c as the independent reference.
  std::mt19937_64 rng(1212);
  for (int i = 0; i < 200; ++i) {
    const int bh = 1 + static_cast<int>(rng() % 5);
    const int64_t rows = 1 + static_cast<int64_t>(rng() % 40);
    const Matrix imp = integer_matrix(rows, 3, 0, 20, rng);
    const BlockGrid grid = make_grid(rows, 3, BlockShape{bh, 1});
    const internal::WindowTable table = internal::build_window_table(imp.view(), grid, "test");
    for (int64_t c = 0; c < 3; ++c) {
      std::vector<double> a(static_cast<size_t>(grid.padded_rows), 0.0);
      for (int64_t r = 0; r < rows; ++r) a[static_cast<size_t>(r)] = imp(r, c);
      EXPECT_EQ(internal::group_curve(table, c), reference::reference_curve(a, bh));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(ExactSelectors, RejectBudgetsOutsideTheAlignedTileCountWithTheNumbers) {
  const Matrix imp = abs_gaussian(8, 4, 5);  // 4x1: 2 tiles x 4 groups = 8
  for (const char* name : kExact) {
    const auto sel = make(name);
    EXPECT_THROW(sel->select(imp.view(), BlockShape{4, 1}, -1), SelectionError) << name;
    try {
      sel->select(imp.view(), BlockShape{4, 1}, 9);
      ADD_FAILURE() << name << " accepted budget 9 > 8";
    } catch (const SelectionError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(name), std::string::npos) << msg;
      EXPECT_NE(msg.find("budget 9"), std::string::npos) << msg;
      EXPECT_NE(msg.find("8]"), std::string::npos) << msg;
    }
    EXPECT_NO_THROW(sel->select(imp.view(), BlockShape{4, 1}, 8)) << name;
  }
}

TEST(ExactSelectors, RejectNanAndInfiniteImportanceNamingTheCell) {
  for (const char* name : kExact) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                      std::numeric_limits<float>::infinity()}) {
      Matrix imp = abs_gaussian(6, 4, 6);
      imp(4, 2) = bad;
      try {
        make(name)->select(imp.view(), BlockShape{2, 1}, 3);
        ADD_FAILURE() << name << " accepted " << bad;
      } catch (const SelectionError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(std::isnan(bad) ? "NaN" : "finite"), std::string::npos) << msg;
        EXPECT_NE(msg.find("(4, 2)"), std::string::npos) << msg;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// optimal-dp's memory guard

TEST(OptimalDpSelector, RefusesAnInputWhoseTablesExceedTheLimitNamingTheEstimate) {
  const Matrix imp = abs_gaussian(64, 64, 9);
  const BlockShape shape{4, 1};
  const int64_t m = block_budget(64, 64, shape, 0.5);  // 512 blocks over 4096 positions
  SelectorOptions options;
  options.memory_limit_bytes = 64 * 1024;
  try {
    make("optimal-dp", options)->select(imp.view(), shape, m);
    ADD_FAILURE() << "a 64 KiB limit was accepted";
  } catch (const SelectionError& e) {
    const std::string msg = e.what();
    const double estimate = internal::exact_dp_memory_bytes(64, 64, 4, m);
    EXPECT_NE(msg.find(std::to_string(static_cast<long long>(estimate)) + " bytes"),
              std::string::npos) << msg;
    EXPECT_NE(msg.find("MiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("65536 bytes"), std::string::npos) << msg;  // the limit
    EXPECT_NE(msg.find("64x64"), std::string::npos) << msg;
    EXPECT_NE(msg.find("4x1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("m=" + std::to_string(m)), std::string::npos) << msg;
    EXPECT_NE(msg.find("`optimal`"), std::string::npos) << msg;
  }
}

TEST(OptimalDpSelector, RunsWhenTheEstimateIsExactlyAtTheLimit) {
  const Matrix imp = abs_gaussian(30, 20, 10);
  const BlockShape shape{3, 2};
  const int64_t m = block_budget(30, 20, shape, 0.7);
  const BlockGrid grid = make_grid(30, 20, shape);
  const auto estimate = static_cast<int64_t>(
      internal::exact_dp_memory_bytes(grid.col_groups, grid.padded_rows, shape.rows, m));
  SelectorOptions options;
  options.memory_limit_bytes = estimate;
  EXPECT_EQ(make("optimal-dp", options)->select(imp.view(), shape, m).blocks.size(),
            static_cast<size_t>(m));
  options.memory_limit_bytes = estimate - 1;
  EXPECT_THROW(make("optimal-dp", options)->select(imp.view(), shape, m), SelectionError);
}

TEST(OptimalDpSelector, RefusesTheFullSize1024LayerUnderTheDefaultLimitBeforeAllocating) {
  // 1024x1024, 4x1, 80% sparsity: ~6.4 GiB of choice bits; the default limit is 2 GiB.
  const Matrix imp(1024, 1024);
  const BlockShape shape{4, 1};
  const int64_t m = block_budget(1024, 1024, shape, 0.8);
  try {
    make("optimal-dp")->select(imp.view(), shape, m);
    ADD_FAILURE() << "the default limit accepted a 1024x1024 layer";
  } catch (const SelectionError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("GiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("1048576 window positions"), std::string::npos) << msg;
  }
  // `optimal` handles the same layer.
  EXPECT_EQ(make("optimal")->select(imp.view(), shape, m).blocks.size(), static_cast<size_t>(m));
}

}  // namespace
}  // namespace ubp::algorithms
