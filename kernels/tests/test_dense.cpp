// dense-ours and dense-blas against the scalar dense reference.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "test_util.h"
#include "ubp/kernels/spmm.h"

namespace ubp::kernels {
namespace {

using namespace ubp::kernels::testing;

struct Dense {
  int64_t rows, cols, hw;
  std::vector<float> w, b, x, bound;
  Dense(int64_t r, int64_t c, int64_t h, uint64_t seed) : rows(r), cols(c), hw(h) {
    w = random_floats(r * c, seed);
    b = random_floats(r, seed + 1);
    x = random_floats(c * h, seed + 2);
    bound = error_bounds(absolute(w), absolute(b), r, c, absolute(x), h);
  }
  std::vector<float> reference(Activation act) const {
    std::vector<float> y(static_cast<size_t>(rows * hw));
    dense_reference(w.data(), b.data(), rows, cols, x.data(), hw, y.data(), act);
    return y;
  }
  std::string name() const {
    return std::to_string(rows) + "x" + std::to_string(cols) + "x" + std::to_string(hw);
  }
};

const std::vector<std::array<int64_t, 3>> kShapes = {
    {1, 1, 1},    {8, 16, 48},  {9, 7, 5},      {13, 300, 70}, {64, 32, 1000},
    {33, 257, 97}, {5, 600, 17}, {100, 513, 49}, {24, 24, 769}};

TEST(DenseOurs, MatchesTheReferenceOnRaggedShapesAndEveryActivation) {
  for_each_simd_target([&](const std::string&) {
    uint64_t seed = 1;
    for (const auto& s : kShapes) {
      const Dense d(s[0], s[1], s[2], seed += 5);
      const DensePacked packed = pack_dense(d.w.data(), d.b.data(), d.rows, d.cols);
      for (Activation act : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
        std::vector<float> y(static_cast<size_t>(d.rows * d.hw), -5.0f);
        dense_ours(packed, d.x.data(), d.hw, y.data(), act, nullptr);
        const auto ref = d.reference(act);
        EXPECT_EQ(first_violation(y, ref, d.bound), -1) << d.name() << " " << to_string(act);
      }
    }
  });
}

TEST(DenseOurs, GivesBitwiseIdenticalResultsForAnyThreadCount) {
  ThreadPool p2(2), p3(3), p7(7);
  uint64_t seed = 100;
  for (const auto& s : kShapes) {
    const Dense d(s[0], s[1], s[2], seed += 5);
    const DensePacked packed = pack_dense(d.w.data(), d.b.data(), d.rows, d.cols);
    std::vector<float> y1(static_cast<size_t>(d.rows * d.hw));
    dense_ours(packed, d.x.data(), d.hw, y1.data(), Activation::kRelu, nullptr);
    for (ThreadPool* pool : {&p2, &p3, &p7}) {
      std::vector<float> y(y1.size());
      dense_ours(packed, d.x.data(), d.hw, y.data(), Activation::kRelu, pool);
      EXPECT_EQ(y, y1) << d.name() << " threads " << pool->threads();
    }
  }
}

TEST(DenseOurs, AnyPixelRangeIsBitwiseThoseOfTheWholeProductAndTouchesNothingElse) {
  for_each_simd_target([&](const std::string& target) {
    uint64_t seed = 300;
    for (const auto& s : kShapes) {
      const Dense d(s[0], s[1], s[2], seed += 5);
      const DensePacked packed = pack_dense(d.w.data(), d.b.data(), d.rows, d.cols);
      std::vector<float> whole(static_cast<size_t>(d.rows * d.hw));
      dense_ours(packed, d.x.data(), d.hw, whole.data(), Activation::kRelu6, nullptr);
      std::vector<std::array<int64_t, 2>> ranges = {{0, d.hw}, {0, 1}, {d.hw - 1, d.hw}};
      for (int64_t cut : {d.hw / 3, d.hw / 2 + 1, d.hw - 3}) {
        if (cut > 0 && cut < d.hw) ranges.push_back({cut, d.hw});
      }
      for (const auto& [p0, p1] : ranges) {
        std::vector<float> y(whole.size(), -7.0f);
        dense_ours_pixels(packed, d.x.data(), d.hw, y.data(), p0, p1, Activation::kRelu6);
        for (size_t i = 0; i < y.size(); ++i) {
          const int64_t pix = static_cast<int64_t>(i) % d.hw;
          ASSERT_EQ(y[i], pix >= p0 && pix < p1 ? whole[i] : -7.0f)
              << target << " " << d.name() << " pixels [" << p0 << ", " << p1 << ") element " << i;
        }
      }
    }
  });
}

// Registered only where the build found OpenBLAS (the host build always does: install-deps
// brings it); without it, RejectBadArguments checks that dense_blas() says it is unavailable.
#if UBP_KERNELS_TESTS_HAVE_BLAS
TEST(DenseBlas, MatchesTheReference) {
  ASSERT_TRUE(have_blas());
  uint64_t seed = 200;
  for (const auto& s : kShapes) {
    const Dense d(s[0], s[1], s[2], seed += 5);
    for (int threads : {1, 2}) {
      for (Activation act : {Activation::kNone, Activation::kRelu6}) {
        std::vector<float> y(static_cast<size_t>(d.rows * d.hw));
        dense_blas(d.w.data(), d.b.data(), d.rows, d.cols, d.x.data(), d.hw, y.data(), act,
                   threads);
        EXPECT_EQ(first_violation(y, d.reference(act), d.bound), -1) << d.name();
      }
    }
  }
}
#endif

TEST(DenseKernels, RejectBadArguments) {
  const Dense d(4, 4, 4, 1);
  const DensePacked packed = pack_dense(d.w.data(), nullptr, 4, 4);
  std::vector<float> y(16);
  EXPECT_THROW(dense_ours(packed, d.x.data(), 0, y.data()), std::invalid_argument);
  EXPECT_THROW(dense_ours(packed, nullptr, 4, y.data()), std::invalid_argument);
  EXPECT_THROW(dense_ours_pixels(packed, d.x.data(), 4, y.data(), 2, 2), std::invalid_argument);
  EXPECT_THROW(dense_ours_pixels(packed, d.x.data(), 4, y.data(), 0, 5), std::invalid_argument);
  if (have_blas()) {
    EXPECT_THROW(dense_blas(d.w.data(), nullptr, 4, 4, d.x.data(), 4, y.data(),
                            Activation::kNone, 0),
                 std::invalid_argument);
  } else {
    EXPECT_THROW(dense_blas(d.w.data(), nullptr, 4, 4, d.x.data(), 4, y.data()),
                 std::runtime_error);
  }
}

}  // namespace
}  // namespace ubp::kernels
