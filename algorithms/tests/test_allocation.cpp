// Per-layer block budgets (allocation.h): uniform and global allocation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "ubp/algorithms/allocation.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/importance.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/random_matrix.h"

namespace ubp::algorithms {
namespace {

// Owns the matrices behind the views handed to allocate_blocks.
struct Net {
  std::vector<std::string> names;
  std::vector<Matrix> imps;

  void add(const std::string& name, Matrix imp) {
    names.push_back(name);
    imps.push_back(std::move(imp));
  }
  void add_random(const std::string& name, int64_t rows, int64_t cols, uint64_t seed,
                  float scale = 1.0f) {
    Matrix imp = importance(random_matrix(rows, cols, Distribution::kGaussian, seed).view(), Norm::kL1);
    for (float& v : imp.values) v *= scale;
    add(name, std::move(imp));
  }
  std::vector<AllocationLayer> layers() const {
    std::vector<AllocationLayer> out;
    for (size_t i = 0; i < imps.size(); ++i) out.push_back(AllocationLayer{names[i], imps[i].view()});
    return out;
  }
};

Matrix constant_matrix(int64_t rows, int64_t cols, float value) {
  Matrix m(rows, cols);
  std::fill(m.values.begin(), m.values.end(), value);
  return m;
}

AllocationOptions global_options(BlockShape shape, double s, double lo = 0.0, double hi = 1.0) {
  AllocationOptions o;
  o.mode = AllocationMode::kGlobal;
  o.shape = shape;
  o.sparsity = s;
  o.min_sparsity = lo;
  o.max_sparsity = hi;
  return o;
}

int64_t sum_budgets(const Allocation& a) {
  int64_t s = 0;
  for (const auto& l : a.layers) s += l.budget;
  return s;
}

// A small net with ragged shapes and different importance scales.
Net mixed_net() {
  Net net;
  net.add_random("conv1", 32, 16, 1, 1.0f);
  net.add_random("conv2", 64, 48, 2, 0.5f);
  net.add_random("conv3", 30, 27, 3, 2.0f);  // ragged for 4x1 and 8x1 rows
  net.add_random("fc", 17, 40, 4, 1.0f);     // ragged rows
  return net;
}

void expect_invalid(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------

TEST(Allocation, ModeNamesRoundTrip) {
  EXPECT_EQ(allocation_mode_from_string("uniform"), AllocationMode::kUniform);
  EXPECT_EQ(allocation_mode_from_string("global"), AllocationMode::kGlobal);
  EXPECT_STREQ(to_string(AllocationMode::kUniform), "uniform");
  EXPECT_STREQ(to_string(AllocationMode::kGlobal), "global");
  expect_invalid([] { allocation_mode_from_string("layerwise"); }, "uniform or global");
}

TEST(Allocation, UniformEqualsBlockBudget) {
  const Net net = mixed_net();
  for (BlockShape shape : {BlockShape{1, 1}, BlockShape{2, 1}, BlockShape{4, 1}, BlockShape{8, 1},
                           BlockShape{4, 2}, BlockShape{3, 3}}) {
    for (double s : {0.0, 0.3, 0.5, 0.8, 0.9, 0.95, 1.0}) {
      AllocationOptions o;
      o.shape = shape;
      o.sparsity = s;
      const Allocation a = allocate_blocks(net.layers(), o);
      ASSERT_EQ(a.layers.size(), net.imps.size());
      int64_t total = 0;
      for (size_t i = 0; i < a.layers.size(); ++i) {
        const auto& l = a.layers[i];
        EXPECT_EQ(l.name, net.names[i]);
        EXPECT_EQ(l.budget, block_budget(net.imps[i].rows, net.imps[i].cols, shape, s))
            << l.name << " " << to_string(shape) << " s=" << s;
        total += l.budget;
      }
      EXPECT_EQ(a.total_budget, total);
      EXPECT_EQ(a.target_budget, total);
      EXPECT_EQ(a.status, AllocationStatus::kExact);
    }
  }
}

TEST(Allocation, UniformNeedsOnlyDimensions) {
  AllocationOptions o;
  o.shape = {4, 1};
  o.sparsity = 0.75;
  const std::vector<AllocationLayer> layers = {{"a", MatrixView{nullptr, 64, 32, 32}},
                                               {"b", MatrixView{nullptr, 10, 10, 0}}};
  const Allocation a = allocate_blocks(layers, o);
  EXPECT_EQ(a.layers[0].budget, 64 * 32 / 4 / 4);
  EXPECT_EQ(a.layers[1].budget, block_budget(10, 10, {4, 1}, 0.75));
  EXPECT_DOUBLE_EQ(a.layers[0].sparsity, 0.75);
}

TEST(Allocation, UniformClampsTheSparsity) {
  const Net net = mixed_net();
  AllocationOptions o;
  o.shape = {4, 1};
  o.sparsity = 0.9;
  o.max_sparsity = 0.7;
  const Allocation a = allocate_blocks(net.layers(), o);
  for (size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(a.layers[i].budget, block_budget(net.imps[i].rows, net.imps[i].cols, o.shape, 0.7));
  }
  EXPECT_EQ(a.status, AllocationStatus::kSaturatedLow);
  EXPECT_GT(a.total_budget, a.target_budget);
}

TEST(Allocation, GlobalSumsExactlyToTheOverallBudget) {
  const Net net = mixed_net();
  int64_t cells = 0;
  for (const Matrix& m : net.imps) cells += m.rows * m.cols;
  // Sparsities s = 1 - num/den, so that the expected overall budget is integer arithmetic.
  struct Frac { int64_t num, den; };
  for (BlockShape shape : {BlockShape{1, 1}, BlockShape{2, 1}, BlockShape{4, 1}, BlockShape{8, 1},
                           BlockShape{2, 2}}) {
    for (Frac keep : {Frac{1, 2}, Frac{1, 5}, Frac{1, 10}, Frac{3, 10}, Frac{1, 4}, Frac{1, 20},
                      Frac{7, 10}, Frac{99, 100}}) {
      const double s = 1.0 - static_cast<double>(keep.num) / static_cast<double>(keep.den);
      const Allocation a = allocate_blocks(net.layers(), global_options(shape, s));
      const int64_t expected = cells * keep.num / (keep.den * shape.rows * shape.cols);
      EXPECT_EQ(a.target_budget, expected) << to_string(shape) << " s=" << s;
      EXPECT_EQ(a.total_budget, expected) << to_string(shape) << " s=" << s;
      EXPECT_EQ(sum_budgets(a), expected);
      EXPECT_EQ(a.status, AllocationStatus::kExact);
      for (const auto& l : a.layers) {
        EXPECT_GE(l.budget, 0);
        EXPECT_LE(l.budget, block_budget(l.rows, l.cols, shape, 0.0));
      }
    }
  }
}

TEST(Allocation, GlobalRespectsClamps) {
  // Very different scales, so the unclamped threshold would starve the small layer and fill the
  // big one.
  Net net;
  net.add_random("tiny", 64, 64, 11, 0.01f);
  net.add_random("mid", 64, 64, 12, 1.0f);
  net.add_random("huge", 64, 64, 13, 100.0f);
  const BlockShape shape{4, 1};
  const Allocation free_alloc = allocate_blocks(net.layers(), global_options(shape, 0.8));
  EXPECT_EQ(free_alloc.layers[0].budget, 0);  // without clamps "tiny" loses everything
  for (double lo : {0.0, 0.3, 0.5}) {
    for (double hi : {0.85, 0.9, 0.95}) {
      const Allocation a = allocate_blocks(net.layers(), global_options(shape, 0.8, lo, hi));
      EXPECT_EQ(a.total_budget, a.target_budget);
      EXPECT_EQ(a.status, AllocationStatus::kExact);
      for (const auto& l : a.layers) {
        EXPECT_EQ(l.min_budget, block_budget(l.rows, l.cols, shape, hi));
        EXPECT_EQ(l.max_budget, block_budget(l.rows, l.cols, shape, lo));
        EXPECT_GE(l.budget, l.min_budget) << l.name << " lo=" << lo << " hi=" << hi;
        EXPECT_LE(l.budget, l.max_budget) << l.name << " lo=" << lo << " hi=" << hi;
        EXPECT_GE(l.sparsity, lo - 1e-12);
        // The budget is a floor, so the nominal sparsity may exceed max_sparsity by less than
        // one block's share of the layer.
        EXPECT_LT(l.sparsity, hi + 4.0 / static_cast<double>(l.rows * l.cols));
      }
      // The clamps bind: "tiny" sits at max_sparsity.
      EXPECT_EQ(a.layers[0].budget, a.layers[0].min_budget);
    }
  }
}

TEST(Allocation, GlobalGivesTheMoreImportantLayerLowerSparsity) {
  Net net;
  net.add_random("weak", 128, 64, 21, 1.0f);
  net.add_random("strong", 128, 64, 22, 1.5f);
  for (BlockShape shape : {BlockShape{2, 1}, BlockShape{4, 1}, BlockShape{8, 1}}) {
    for (double s : {0.5, 0.8, 0.9}) {
      const Allocation a = allocate_blocks(net.layers(), global_options(shape, s));
      EXPECT_GT(a.layers[1].budget, a.layers[0].budget) << to_string(shape) << " s=" << s;
      EXPECT_LT(a.layers[1].sparsity, s);
      EXPECT_GT(a.layers[0].sparsity, s);
    }
  }
}

TEST(Allocation, GlobalMaximisesTheSumOfKeptTileScores) {
  // Independent check of the rule: with each layer keeping its best tiles, the allocation must
  // maximise the total kept tile score over every (m_1, m_2, m_3) within the clamps that sums
  // to the target (exhaustive enumeration).
  Net net;
  net.add_random("a", 12, 5, 31, 1.0f);
  net.add_random("b", 10, 6, 32, 1.7f);  // ragged rows for bh = 4
  net.add_random("c", 16, 3, 33, 0.6f);
  const BlockShape shape{4, 1};
  std::vector<std::vector<double>> prefix;  // prefix[l][k] = sum of the k best tile scores
  for (const Matrix& m : net.imps) {
    std::vector<double> scores;
    const int64_t tiles_per_col = (m.rows + 3) / 4;
    for (int64_t c = 0; c < m.cols; ++c) {
      for (int64_t t = 0; t < tiles_per_col; ++t) {
        double sum = 0;
        for (int64_t r = 4 * t; r < std::min<int64_t>(4 * t + 4, m.rows); ++r) sum += m(r, c);
        scores.push_back(sum);
      }
    }
    std::sort(scores.rbegin(), scores.rend());
    std::vector<double> p(1, 0.0);
    for (double v : scores) p.push_back(p.back() + v);
    prefix.push_back(p);
  }
  for (double s : {0.3, 0.5, 0.7, 0.8, 0.9}) {
    for (double lo : {0.0, 0.4}) {
      for (double hi : {0.85, 1.0}) {
        const Allocation a = allocate_blocks(net.layers(), global_options(shape, s, lo, hi));
        if (a.status != AllocationStatus::kExact) continue;
        double got = 0;
        for (size_t l = 0; l < 3; ++l) got += prefix[l][static_cast<size_t>(a.layers[l].budget)];
        double best = -1;
        const auto& L = a.layers;
        for (int64_t m0 = L[0].min_budget; m0 <= L[0].max_budget; ++m0) {
          for (int64_t m1 = L[1].min_budget; m1 <= L[1].max_budget; ++m1) {
            const int64_t m2 = a.target_budget - m0 - m1;
            if (m2 < L[2].min_budget || m2 > L[2].max_budget) continue;
            best = std::max(best, prefix[0][m0] + prefix[1][m1] + prefix[2][m2]);
          }
        }
        EXPECT_NEAR(got, best, 1e-9 * std::max(1.0, best)) << "s=" << s << " lo=" << lo << " hi=" << hi;
      }
    }
  }
}

TEST(Allocation, GlobalTiesGoToTheEarlierLayerThenTheEarlierTile) {
  // Two identical all-ones layers: every tile ties, so the earlier layer is filled first.
  Net net;
  net.add("first", constant_matrix(16, 4, 1.0f));   // 16 tiles of 4x1
  net.add("second", constant_matrix(16, 4, 1.0f));  // 16 tiles
  const BlockShape shape{4, 1};
  const Allocation a = allocate_blocks(net.layers(), global_options(shape, 0.75));  // M = 8
  EXPECT_EQ(a.target_budget, 8);
  EXPECT_EQ(a.layers[0].budget, 8);
  EXPECT_EQ(a.layers[1].budget, 0);
  EXPECT_DOUBLE_EQ(a.threshold, 4.0);

  // The same with a cap: "first" stops at its min_sparsity bound (8 blocks), the rest of the
  // target floor(128 * 0.4 / 4) = 12 goes to "second".
  const Allocation capped = allocate_blocks(net.layers(), global_options(shape, 0.6, 0.5, 1.0));
  EXPECT_EQ(capped.target_budget, 12);
  EXPECT_EQ(capped.layers[0].budget, 8);
  EXPECT_EQ(capped.layers[1].budget, 4);

  // Swapping the layers swaps the winner (the order is the tie-break), and repeated calls agree.
  Net swapped;
  swapped.add("second", constant_matrix(16, 4, 1.0f));
  swapped.add("first", constant_matrix(16, 4, 1.0f));
  const Allocation b = allocate_blocks(swapped.layers(), global_options(shape, 0.75));
  EXPECT_EQ(b.layers[0].name, "second");
  EXPECT_EQ(b.layers[0].budget, 8);
  EXPECT_EQ(b.layers[1].budget, 0);
  for (int rep = 0; rep < 3; ++rep) {
    const Allocation again = allocate_blocks(net.layers(), global_options(shape, 0.75));
    for (size_t i = 0; i < again.layers.size(); ++i) {
      EXPECT_EQ(again.layers[i].budget, a.layers[i].budget);
    }
  }
}

TEST(Allocation, GlobalIsDeterministicOnRandomInputs) {
  const Net net = mixed_net();
  const auto o = global_options({4, 1}, 0.8, 0.2, 0.95);
  const Allocation a = allocate_blocks(net.layers(), o);
  for (int rep = 0; rep < 3; ++rep) {
    const Allocation b = allocate_blocks(net.layers(), o);
    ASSERT_EQ(a.layers.size(), b.layers.size());
    for (size_t i = 0; i < a.layers.size(); ++i) EXPECT_EQ(a.layers[i].budget, b.layers[i].budget);
    EXPECT_EQ(a.threshold, b.threshold);
  }
}

TEST(Allocation, GlobalOneLayerEqualsUniform) {
  Net net;
  net.add_random("only", 50, 37, 41);
  for (BlockShape shape : {BlockShape{2, 1}, BlockShape{4, 1}, BlockShape{8, 1}, BlockShape{3, 2}}) {
    for (double s : {0.0, 0.2, 0.5, 0.8, 0.9, 1.0}) {
      const Allocation a = allocate_blocks(net.layers(), global_options(shape, s));
      EXPECT_EQ(a.layers[0].budget, block_budget(50, 37, shape, s)) << to_string(shape) << " " << s;
      EXPECT_EQ(a.status, AllocationStatus::kExact);
    }
  }
}

TEST(Allocation, GlobalSparsityZeroAndOne) {
  Net net;
  net.add_random("a", 32, 16, 51);
  net.add_random("b", 64, 8, 52);
  const BlockShape shape{4, 1};
  const Allocation dense = allocate_blocks(net.layers(), global_options(shape, 0.0));
  EXPECT_EQ(dense.status, AllocationStatus::kExact);
  EXPECT_EQ(dense.layers[0].budget, 32 * 16 / 4);
  EXPECT_EQ(dense.layers[1].budget, 64 * 8 / 4);
  EXPECT_DOUBLE_EQ(dense.layers[0].sparsity, 0.0);

  const Allocation empty = allocate_blocks(net.layers(), global_options(shape, 1.0));
  EXPECT_EQ(empty.status, AllocationStatus::kExact);
  EXPECT_EQ(empty.total_budget, 0);
  for (const auto& l : empty.layers) {
    EXPECT_EQ(l.budget, 0);
    EXPECT_DOUBLE_EQ(l.sparsity, 1.0);
  }
  EXPECT_TRUE(std::isinf(empty.threshold));
}

TEST(Allocation, GlobalRaggedLayersAtSparsityZeroSaturate) {
  // 10 rows with bh = 4: each layer can keep at most floor(10*3/4) = 7 blocks, but the overall
  // target floor(60/4) = 15 exceeds 7 + 7; every layer saturates at its maximum.
  Net net;
  net.add_random("a", 10, 3, 61);
  net.add_random("b", 10, 3, 62);
  const Allocation a = allocate_blocks(net.layers(), global_options({4, 1}, 0.0));
  EXPECT_EQ(a.target_budget, 15);
  EXPECT_EQ(a.status, AllocationStatus::kSaturatedHigh);
  EXPECT_EQ(a.layers[0].budget, 7);
  EXPECT_EQ(a.layers[1].budget, 7);
  EXPECT_EQ(a.total_budget, 14);
}

TEST(Allocation, GlobalSaturatesWhenTheClampsCannotMeetTheTarget) {
  const Net net = mixed_net();
  const BlockShape shape{2, 1};
  // Target 0.9 but no layer may exceed 0.5: every layer at max_sparsity, more blocks than asked.
  const Allocation low = allocate_blocks(net.layers(), global_options(shape, 0.9, 0.0, 0.5));
  EXPECT_EQ(low.status, AllocationStatus::kSaturatedLow);
  EXPECT_GT(low.total_budget, low.target_budget);
  for (const auto& l : low.layers) EXPECT_EQ(l.budget, l.min_budget);
  // Target 0.2 but every layer must be at least 0.6 sparse.
  const Allocation high = allocate_blocks(net.layers(), global_options(shape, 0.2, 0.6, 1.0));
  EXPECT_EQ(high.status, AllocationStatus::kSaturatedHigh);
  EXPECT_LT(high.total_budget, high.target_budget);
  for (const auto& l : high.layers) EXPECT_EQ(l.budget, l.max_budget);
  EXPECT_STREQ(to_string(AllocationStatus::kSaturatedLow), "saturated-at-max-sparsity");
}

TEST(Allocation, GlobalWithEqualClampsPinsEveryLayer) {
  const Net net = mixed_net();
  const BlockShape shape{4, 1};
  for (double target : {0.5, 0.6, 0.7}) {
    const Allocation a = allocate_blocks(net.layers(), global_options(shape, target, 0.6, 0.6));
    for (const auto& l : a.layers) {
      EXPECT_EQ(l.budget, block_budget(l.rows, l.cols, shape, 0.6));
      EXPECT_EQ(l.min_budget, l.max_budget);
    }
  }
}

TEST(Allocation, AlignedTileScoresIncludeOnlyRealCells) {
  Matrix m(5, 3);  // bh = 2, bw = 2: 3 tile rows (last ragged), 2 column groups (last ragged)
  for (int64_t r = 0; r < 5; ++r) {
    for (int64_t c = 0; c < 3; ++c) m(r, c) = static_cast<float>(r * 3 + c);
  }
  const std::vector<double> s = aligned_tile_scores(m.view(), {2, 2});
  ASSERT_EQ(s.size(), 6u);
  // group 0 (columns 0,1): rows 0-1, 2-3, 4
  EXPECT_DOUBLE_EQ(s[0], 0 + 1 + 3 + 4);
  EXPECT_DOUBLE_EQ(s[1], 6 + 7 + 9 + 10);
  EXPECT_DOUBLE_EQ(s[2], 12 + 13);
  // group 1 (column 2 only)
  EXPECT_DOUBLE_EQ(s[3], 2 + 5);
  EXPECT_DOUBLE_EQ(s[4], 8 + 11);
  EXPECT_DOUBLE_EQ(s[5], 14);
}

TEST(Allocation, RejectsBadInput) {
  const Net net = mixed_net();
  const auto layers = net.layers();
  auto with = [&](auto edit) {
    AllocationOptions o = global_options({4, 1}, 0.8);
    edit(o);
    return o;
  };
  expect_invalid([&] { allocate_blocks({}, with([](auto&) {})); }, "no layers");
  expect_invalid([&] { allocate_blocks(layers, with([](auto& o) { o.sparsity = 1.5; })); },
                 "sparsity must be in [0, 1], got 1.5");
  expect_invalid([&] { allocate_blocks(layers, with([](auto& o) { o.sparsity = std::nan(""); })); },
                 "sparsity");
  expect_invalid([&] { allocate_blocks(layers, with([](auto& o) { o.min_sparsity = -0.1; })); },
                 "min_sparsity");
  expect_invalid([&] { allocate_blocks(layers, with([](auto& o) { o.max_sparsity = 2; })); },
                 "max_sparsity");
  expect_invalid(
      [&] {
        allocate_blocks(layers, with([](auto& o) {
                          o.min_sparsity = 0.7;
                          o.max_sparsity = 0.6;
                        }));
      },
      "min_sparsity 0.7 is greater than max_sparsity 0.6");
  expect_invalid([&] { allocate_blocks(layers, with([](auto& o) { o.shape = {0, 1}; })); },
                 "block shape");

  auto dup = layers;
  dup[2].name = dup[0].name;
  expect_invalid([&] { allocate_blocks(dup, with([](auto&) {})); }, "duplicate layer name 'conv1'");
  auto unnamed = layers;
  unnamed[1].name.clear();
  expect_invalid([&] { allocate_blocks(unnamed, with([](auto&) {})); }, "empty name");
  auto empty = layers;
  empty[3].importance.rows = 0;
  expect_invalid([&] { allocate_blocks(empty, with([](auto&) {})); }, "'fc'");
  auto null_data = layers;
  null_data[1].importance.data = nullptr;
  expect_invalid([&] { allocate_blocks(null_data, with([](auto&) {})); }, "('conv2') has no importance");
  auto stride = layers;
  stride[0].importance.row_stride = 3;
  expect_invalid([&] { allocate_blocks(stride, with([](auto&) {})); }, "row_stride");

  Net nan_net = mixed_net();
  nan_net.imps[2](3, 4) = std::numeric_limits<float>::quiet_NaN();
  expect_invalid([&] { allocate_blocks(nan_net.layers(), with([](auto&) {})); }, "'conv3'");
}

}  // namespace
}  // namespace ubp::algorithms
