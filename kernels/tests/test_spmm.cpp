// Sparse kernels against the scalar references: random shapes, ragged tails, every activation,
// sparsity 0..1, empty rows and columns, one and several threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "test_util.h"
#include "ubp/kernels/spmm.h"

namespace ubp::kernels {
namespace {

using namespace ubp::kernels::testing;

const Activation kActs[] = {Activation::kNone, Activation::kRelu, Activation::kRelu6};

// One random problem: weights, bias, input, both block patterns and packings.
struct Problem {
  int64_t rows, cols, hw;
  BlockShape shape;
  std::vector<float> w, b, x;
  std::vector<Block> aligned_blocks, unaligned_blocks;
  AlignedPacked ap;
  UnalignedPacked up;

  Problem(int64_t r, int64_t c, int64_t h, BlockShape s, double sparsity, uint64_t seed,
          float scale = 1.0f)
      : rows(r), cols(c), hw(h), shape(s) {
    w = random_floats(r * c, seed);
    b = random_floats(r, seed + 1);
    x = random_floats(c * h, seed + 2);
    for (auto& v : w) v *= scale;
    const int64_t m = blocks_for_sparsity(r, c, s, sparsity);
    aligned_blocks = random_aligned_blocks(r, c, s, m, seed + 3);
    unaligned_blocks = random_unaligned_blocks(r, c, s, m, seed + 4);
    ap = pack_aligned(w.data(), b.data(), r, c, s, aligned_blocks);
    up = pack_unaligned(w.data(), b.data(), r, c, s, unaligned_blocks);
  }
  std::string name() const {
    return std::to_string(rows) + "x" + std::to_string(cols) + "x" + std::to_string(hw) + " b" +
           std::to_string(shape.rows) + "x" + std::to_string(shape.cols);
  }
};

template <class Packed>
std::vector<float> bounds_for(const Problem& p, const Packed& packed) {
  return error_bounds(absolute(unpack(packed)), absolute(p.b), p.rows, p.cols, absolute(p.x),
                      p.hw);
}

std::vector<float> run_aligned(const Problem& p, Activation act, ThreadPool* pool) {
  std::vector<float> y(static_cast<size_t>(p.rows * p.hw), -7.0f);
  spmm_aligned(p.ap, p.x.data(), p.hw, y.data(), act, pool);
  return y;
}
std::vector<float> run_unaligned(const Problem& p, Activation act, ThreadPool* pool) {
  std::vector<float> y(static_cast<size_t>(p.rows * p.hw), -7.0f);
  spmm_unaligned(p.up, p.x.data(), p.hw, y.data(), act, pool);
  return y;
}
std::vector<float> run_naive(const Problem& p, Activation act, ThreadPool* pool) {
  std::vector<float> y(static_cast<size_t>(p.rows * p.hw), -7.0f);
  spmm_unaligned_naive(p.up, p.x.data(), p.hw, y.data(), act, pool);
  return y;
}

// Checks the three SIMD kernels against their references and the references against a dense
// (double) product of the unpacked weights.
void check_problem(const Problem& p, Activation act, ThreadPool* pool) {
  const size_t n = static_cast<size_t>(p.rows * p.hw);
  const std::string what = p.name() + " act " + to_string(act) + " threads " +
                           std::to_string(pool_threads(pool));
  {
    std::vector<float> ref(n), dense(n);
    spmm_aligned_reference(p.ap, p.x.data(), p.hw, ref.data(), act);
    const auto wm = unpack(p.ap);
    dense_reference(wm.data(), p.b.data(), p.rows, p.cols, p.x.data(), p.hw, dense.data(), act);
    const auto bound = bounds_for(p, p.ap);
    EXPECT_EQ(first_violation(ref, dense, bound), -1) << "aligned reference " << what;
    const auto y = run_aligned(p, act, pool);
    const int64_t bad = first_violation(y, ref, bound);
    EXPECT_EQ(bad, -1) << "aligned " << what << " at " << bad << ": "
                       << (bad >= 0 ? y[bad] : 0) << " vs " << (bad >= 0 ? ref[bad] : 0);
  }
  {
    std::vector<float> ref(n), dense(n);
    spmm_unaligned_reference(p.up, p.x.data(), p.hw, ref.data(), act);
    const auto wm = unpack(p.up);
    dense_reference(wm.data(), p.b.data(), p.rows, p.cols, p.x.data(), p.hw, dense.data(), act);
    const auto bound = bounds_for(p, p.up);
    EXPECT_EQ(first_violation(ref, dense, bound), -1) << "unaligned reference " << what;
    const auto y = run_unaligned(p, act, pool);
    const int64_t bad = first_violation(y, ref, bound);
    EXPECT_EQ(bad, -1) << "unaligned " << what << " at " << bad << ": "
                       << (bad >= 0 ? y[bad] : 0) << " vs " << (bad >= 0 ? ref[bad] : 0);
    // The naive kernel: same reference; and the same operations as WROS, so the same bits.
    const auto yn = run_naive(p, act, pool);
    const int64_t bad_n = first_violation(yn, ref, bound);
    EXPECT_EQ(bad_n, -1) << "unaligned-naive " << what << " at " << bad_n << ": "
                         << (bad_n >= 0 ? yn[bad_n] : 0) << " vs "
                         << (bad_n >= 0 ? ref[bad_n] : 0);
    EXPECT_EQ(yn, y) << "unaligned-naive differs from WROS bitwise, " << what;
  }
}

TEST(SpmmKernels, MatchTheScalarReferenceOnRandomShapesForEveryBlockShape) {
  for_each_simd_target([&](const std::string&) {
    uint64_t seed = 10;
    for (int bh : {1, 2, 4, 8}) {
      for (int bw : {1, 2, 3}) {
        for (const auto& dims : std::vector<std::array<int64_t, 3>>{
                 {16, 16, 64}, {37, 29, 53}, {8, 5, 200}, {61, 70, 33}, {5, 3, 17}}) {
          const Problem p(dims[0], dims[1], dims[2], {bh, bw}, 0.6, seed += 7);
          check_problem(p, Activation::kNone, nullptr);
        }
      }
    }
  });
}

TEST(SpmmKernels, HandleEveryRaggedPixelTail) {
  for_each_simd_target([&](const std::string&) {
    // Every width of the last tile, around one and two tiles of the widest target.
    uint64_t seed = 500;
    for (int bh : {2, 4, 8}) {
      const int64_t mr = spmm_pixel_tile(bh);
      std::vector<int64_t> hws = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 49, 63, 65, 127, 129};
      for (int64_t d : {int64_t{-1}, int64_t{0}, int64_t{1}}) hws.push_back(2 * mr + d);
      for (int64_t hw : hws) {
        const Problem p(2 * bh + 3, 19, hw, {bh, 1}, 0.5, seed += 3);
        check_problem(p, Activation::kNone, nullptr);
      }
    }
  });
}

TEST(SpmmKernels, HandleRowsThatAreNotAMultipleOfTheBlockHeight) {
  for_each_simd_target([&](const std::string&) {
    uint64_t seed = 900;
    for (int bh : {2, 4, 8}) {
      for (int64_t rows = 1; rows <= 3 * bh + 1; ++rows) {
        const Problem p(rows, 13, 37, {bh, 1}, 0.3, seed += 5);
        check_problem(p, Activation::kRelu, nullptr);
      }
    }
  });
}

TEST(SpmmKernels, ApplyEveryActivation) {
  for_each_simd_target([&](const std::string&) {
    // Weights scaled up so that many outputs exceed 6 and many are negative.
    for (Activation act : kActs) {
      const Problem p(40, 48, 70, {4, 1}, 0.5, 1234, 8.0f);
      check_problem(p, act, nullptr);
      const auto y = run_unaligned(p, act, nullptr);
      const auto [lo, hi] = std::minmax_element(y.begin(), y.end());
      if (act == Activation::kNone) {
        EXPECT_LT(*lo, 0.0f);
        EXPECT_GT(*hi, 6.0f);
      } else {
        EXPECT_EQ(*lo, 0.0f);
        if (act == Activation::kRelu6) {
          EXPECT_EQ(*hi, 6.0f);
        } else {
          EXPECT_GT(*hi, 6.0f);
        }
      }
    }
  });
}

TEST(SpmmKernels, CoverSparsityFromZeroToOne) {
  uint64_t seed = 2000;
  for (double s : {0.0, 0.1, 0.5, 0.8, 0.95, 0.99, 1.0}) {
    for (int bh : {1, 4, 8}) {
      const Problem p(33, 41, 45, {bh, 1}, s, seed += 11);
      check_problem(p, Activation::kRelu6, nullptr);
    }
  }
}

TEST(SpmmKernels, WithNoBlocksOutputTheActivatedBias) {
  const Problem p(10, 12, 21, {4, 1}, 1.0, 77);
  ASSERT_EQ(p.ap.geom.num_vectors, 0);
  for (Activation act : kActs) {
    const auto ya = run_aligned(p, act, nullptr);
    const auto yu = run_unaligned(p, act, nullptr);
    const auto yn = run_naive(p, act, nullptr);
    for (int64_t r = 0; r < p.rows; ++r) {
      float expect = p.b[r];
      if (act != Activation::kNone) expect = std::max(expect, 0.0f);
      for (int64_t i = 0; i < p.hw; ++i) {
        EXPECT_EQ(ya[r * p.hw + i], expect);
        EXPECT_EQ(yu[r * p.hw + i], expect);
        EXPECT_EQ(yn[r * p.hw + i], expect);
      }
    }
  }
}

TEST(SpmmKernels, HandleEmptyRowsAndColumns) {
  for_each_simd_target([&](const std::string&) {
    // Blocks only in a few column groups and rows; whole block-rows and rows empty.
    const int64_t rows = 29, cols = 17, hw = 41;
    const auto w = random_floats(rows * cols, 5);
    const auto b = random_floats(rows, 6);
    const auto x = random_floats(cols * hw, 7);
    Problem p(rows, cols, hw, {4, 1}, 1.0, 8);
    p.w = w;
    p.b = b;
    p.x = x;
    p.aligned_blocks = {{0, 0}, {16, 0}, {16, 24}, {3, 8}};
    p.unaligned_blocks = {{0, 25}, {16, 1}, {16, 13}, {3, 7}, {3, 11}, {9, 0}};
    p.ap = pack_aligned(w.data(), b.data(), rows, cols, {4, 1}, p.aligned_blocks);
    p.up = pack_unaligned(w.data(), b.data(), rows, cols, {4, 1}, p.unaligned_blocks);
    for (Activation act : kActs) check_problem(p, act, nullptr);
    ThreadPool pool(3);
    check_problem(p, Activation::kNone, &pool);
  });
}

TEST(SpmmKernels, UnalignedKernelOnAlignedBlocksEqualsTheAlignedKernelBitwise) {
  for_each_simd_target([&](const std::string&) {
    // With aligned blocks every row receives its blocks in the same order in both kernels.
    for (int bh : {2, 4, 8}) {
      Problem p(50, 64, 77, {bh, 1}, 0.7, 31 + bh);
      const auto u = pack_unaligned(p.w.data(), p.b.data(), p.rows, p.cols, p.shape,
                                    p.aligned_blocks);
      std::vector<float> ya(static_cast<size_t>(p.rows * p.hw)), yu(ya.size());
      spmm_aligned(p.ap, p.x.data(), p.hw, ya.data(), Activation::kNone, nullptr);
      spmm_unaligned(u, p.x.data(), p.hw, yu.data(), Activation::kNone, nullptr);
      EXPECT_EQ(ya, yu) << "bh " << bh;
    }
  });
}

TEST(SpmmKernels, GiveBitwiseIdenticalResultsForAnyThreadCount) {
  // Shapes with many tiles (split over pixels) and with few tiles (split over rows too).
  std::vector<ThreadPool*> pools;
  ThreadPool p2(2), p3(3), p5(5);
  uint64_t seed = 4000;
  for (const auto& dims : std::vector<std::array<int64_t, 3>>{
           {64, 32, 1000}, {256, 96, 49}, {130, 70, 7}, {67, 50, 200}, {8, 8, 3}}) {
    for (int bh : {2, 4, 8}) {
      const Problem p(dims[0], dims[1], dims[2], {bh, 1}, 0.8, seed += 13);
      const auto a1 = run_aligned(p, Activation::kRelu, nullptr);
      const auto u1 = run_unaligned(p, Activation::kRelu, nullptr);
      const auto n1 = run_naive(p, Activation::kRelu, nullptr);
      for (ThreadPool* pool : {&p2, &p3, &p5}) {
        EXPECT_EQ(run_naive(p, Activation::kRelu, pool), n1)
            << p.name() << " threads " << pool->threads();
        EXPECT_EQ(run_aligned(p, Activation::kRelu, pool), a1)
            << p.name() << " threads " << pool->threads();
        EXPECT_EQ(run_unaligned(p, Activation::kRelu, pool), u1)
            << p.name() << " threads " << pool->threads();
      }
      check_problem(p, Activation::kRelu, &p3);
    }
  }
}

// Pixel ranges a caller may hand one thread: whole, one pixel at either end, ragged cuts
// (not multiples of any tile), a middle slice.
std::vector<std::array<int64_t, 2>> pixel_ranges(int64_t hw) {
  std::vector<std::array<int64_t, 2>> r = {{0, hw}, {0, 1}, {hw - 1, hw}};
  for (int64_t cut : {int64_t{1}, hw / 3, hw / 2 + 1, hw - 3}) {
    if (cut > 0 && cut < hw) {
      r.push_back({0, cut});
      r.push_back({cut, hw});
    }
  }
  if (hw > 10) r.push_back({5, hw - 5});
  return r;
}

// In y, pixels [p0, p1) of every row equal `whole`; the others still hold the sentinel.
void expect_pixels(const std::vector<float>& y, const std::vector<float>& whole, int64_t hw,
                   int64_t p0, int64_t p1, const std::string& what) {
  ASSERT_EQ(y.size(), whole.size());
  for (size_t i = 0; i < y.size(); ++i) {
    const int64_t pix = static_cast<int64_t>(i) % hw;
    const float expected = pix >= p0 && pix < p1 ? whole[i] : -7.0f;
    ASSERT_EQ(y[i], expected) << what << " pixels [" << p0 << ", " << p1 << ") element " << i;
  }
}

TEST(SpmmKernels, AnyPixelRangeIsBitwiseThoseOfTheWholeProductAndTouchesNothingElse) {
  for_each_simd_target([&](const std::string& target) {
    uint64_t seed = 7000;
    for (const auto& dims : std::vector<std::array<int64_t, 3>>{
             {64, 32, 196}, {67, 50, 49}, {16, 9, 7}, {8, 8, 1}, {40, 24, 300}}) {
      for (int bh : {1, 2, 4, 8}) {
        const Problem p(dims[0], dims[1], dims[2], {bh, 1}, 0.7, seed += 7);
        const auto a = run_aligned(p, Activation::kRelu6, nullptr);
        const auto u = run_unaligned(p, Activation::kRelu6, nullptr);
        const auto n = run_naive(p, Activation::kRelu6, nullptr);
        for (const auto& [p0, p1] : pixel_ranges(p.hw)) {
          const std::string what = target + " " + p.name();
          std::vector<float> y(a.size(), -7.0f);
          spmm_aligned_pixels(p.ap, p.x.data(), p.hw, y.data(), p0, p1, Activation::kRelu6);
          expect_pixels(y, a, p.hw, p0, p1, "aligned " + what);
          std::fill(y.begin(), y.end(), -7.0f);
          spmm_unaligned_pixels(p.up, p.x.data(), p.hw, y.data(), p0, p1, Activation::kRelu6);
          expect_pixels(y, u, p.hw, p0, p1, "unaligned " + what);
          std::fill(y.begin(), y.end(), -7.0f);
          spmm_unaligned_naive_pixels(p.up, p.x.data(), p.hw, y.data(), p0, p1,
                                      Activation::kRelu6);
          expect_pixels(y, n, p.hw, p0, p1, "unaligned-naive " + what);
        }
      }
    }
  });
}

TEST(SpmmKernels, MatchTheReferenceOnMobileNetSizedLayers) {
  ThreadPool pool(2);
  uint64_t seed = 6000;
  for (const auto& dims : std::vector<std::array<int64_t, 3>>{
           {64, 32, 3136}, {512, 512, 196}, {1024, 1024, 49}}) {
    const Problem p(dims[0], dims[1], dims[2], {4, 1}, 0.8, seed += 17);
    check_problem(p, Activation::kRelu, &pool);
  }
}

TEST(SpmmKernels, RejectBadArguments) {
  const Problem p(8, 8, 16, {4, 1}, 0.5, 1);
  std::vector<float> y(8 * 16);
  EXPECT_THROW(spmm_aligned(p.ap, p.x.data(), 0, y.data()), std::invalid_argument);
  EXPECT_THROW(spmm_unaligned(p.up, nullptr, 16, y.data()), std::invalid_argument);
  EXPECT_THROW(spmm_unaligned_naive(p.up, nullptr, 16, y.data()), std::invalid_argument);
  EXPECT_THROW(spmm_unaligned_naive(p.up, p.x.data(), 0, y.data()), std::invalid_argument);
  EXPECT_THROW(spmm_aligned(p.ap, p.x.data(), 16, nullptr), std::invalid_argument);
  EXPECT_THROW(spmm_aligned_reference(p.ap, p.x.data(), -1, y.data()), std::invalid_argument);
  EXPECT_THROW(spmm_pixel_tile(3), std::invalid_argument);
  // Pixel ranges: empty, reversed, past hw, negative.
  EXPECT_THROW(spmm_aligned_pixels(p.ap, p.x.data(), 16, y.data(), 4, 4), std::invalid_argument);
  EXPECT_THROW(spmm_unaligned_pixels(p.up, p.x.data(), 16, y.data(), 5, 4), std::invalid_argument);
  EXPECT_THROW(spmm_unaligned_naive_pixels(p.up, p.x.data(), 16, y.data(), 0, 17),
               std::invalid_argument);
  EXPECT_THROW(spmm_aligned_pixels(p.ap, p.x.data(), 16, y.data(), -1, 3), std::invalid_argument);
}

TEST(SpmmKernels, ReportTheirSimdTargetAndTile) {
  EXPECT_FALSE(simd_target().empty());
  ASSERT_FALSE(simd_targets().empty());
  EXPECT_EQ(simd_targets().front(), simd_target());
  EXPECT_THROW(set_simd_target("NO_SUCH_TARGET"), std::invalid_argument);
  EXPECT_EQ(simd_target(), simd_targets().front());
  for (int bh : {1, 2, 4, 8}) EXPECT_GE(spmm_pixel_tile(bh), 1);
  std::string all;
  for (const auto& t : simd_targets()) all += " " + t;
  std::printf("SIMD target: %s (available:%s), MR(bh=4) = %lld\n", simd_target().c_str(),
              all.c_str(), static_cast<long long>(spmm_pixel_tile(4)));
}

TEST(Activations, ParseAndPrint) {
  for (Activation a : kActs) EXPECT_EQ(parse_activation(to_string(a)), a);
  EXPECT_THROW(parse_activation("gelu"), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::kernels
