// im2col: layout, padding, stride, and convolution through the dense kernels.
#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.h"
#include "ubp/kernels/im2col.h"
#include "ubp/kernels/spmm.h"

namespace ubp::kernels {
namespace {

using testing::for_each_simd_target;
using testing::random_floats;

// out[(c*k + ky)*k + kx][oy*OW + ox] by the definition.
std::vector<float> naive_im2col(const ConvGeometry& g, const std::vector<float>& x) {
  const int64_t oh = g.out_height(), ow = g.out_width(), k = g.kernel;
  std::vector<float> out(static_cast<size_t>(g.rows() * g.cols()));
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t ky = 0; ky < k; ++ky)
      for (int64_t kx = 0; kx < k; ++kx)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            const int64_t iy = oy * g.stride + ky - g.padding;
            const int64_t ix = ox * g.stride + kx - g.padding;
            const bool inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width;
            out[((c * k + ky) * k + kx) * oh * ow + oy * ow + ox] =
                inside ? x[(c * g.height + iy) * g.width + ix] : 0.0f;
          }
  return out;
}

TEST(Im2col, MatchesTheDefinitionForKernelsStridesAndPaddings) {
  uint64_t seed = 1;
  for (int k : {1, 2, 3, 5}) {
    for (int stride : {1, 2, 3}) {
      for (int pad : {0, 1, 2}) {
        for (auto [h, w] : {std::pair<int64_t, int64_t>{7, 7}, {6, 9}, {5, 4}, {13, 11}}) {
          ConvGeometry g{3, h, w, k, stride, pad};
          if (h + 2 * pad < k || w + 2 * pad < k) continue;
          const auto x = random_floats(g.channels * h * w, seed++);
          std::vector<float> out(static_cast<size_t>(g.rows() * g.cols()), -1.0f);
          im2col(g, x.data(), out.data());
          EXPECT_EQ(out, naive_im2col(g, x))
              << "k" << k << " s" << stride << " p" << pad << " " << h << "x" << w;
        }
      }
    }
  }
}

TEST(Im2col, OneByOneStrideOneIsTheInputItself) {
  ConvGeometry g{4, 5, 6, 1, 1, 0};
  const auto x = random_floats(4 * 5 * 6, 3);
  std::vector<float> out(x.size());
  im2col(g, x.data(), out.data());
  EXPECT_EQ(out, x);
  EXPECT_EQ(g.rows(), 4);
  EXPECT_EQ(g.cols(), 30);
}

// Threads split the column-matrix rows; every element must be written, by the definition, for
// any thread count, more threads than rows included.
TEST(Im2col, MatchesTheDefinitionForAnyThreadCount) {
  uint64_t seed = 40;
  for (int threads : {2, 3, 7}) {
    ThreadPool pool(threads);
    for (const ConvGeometry& g : {ConvGeometry{16, 14, 14, 3, 2, 1}, ConvGeometry{3, 9, 5, 3, 1, 1},
                                  ConvGeometry{5, 2, 2, 3, 2, 1}, ConvGeometry{2, 4, 13, 3, 1, 0},
                                  ConvGeometry{1, 1, 1, 1, 1, 0}, ConvGeometry{4, 30, 3, 5, 3, 2}}) {
      const auto x = random_floats(g.channels * g.height * g.width, seed++);
      std::vector<float> out(static_cast<size_t>(g.rows() * g.cols()), -1.0f);
      im2col(g, x.data(), out.data(), &pool);
      EXPECT_EQ(out, naive_im2col(g, x)) << threads << " threads, " << g.channels << "x"
                                         << g.height << "x" << g.width << " k" << g.kernel
                                         << " s" << g.stride << " p" << g.padding;
    }
  }
}

TEST(Im2col, FeedsAConvolutionThroughTheDenseKernel) {
  // 3x3 conv, pad 1: Y = W * im2col(X) equals a direct convolution.
  ConvGeometry g{2, 6, 5, 3, 1, 1};
  const int64_t cout = 3;
  const auto x = random_floats(2 * 6 * 5, 11);
  const auto w = random_floats(cout * g.rows(), 12);  // [cout][cin][ky][kx]
  std::vector<float> cols(static_cast<size_t>(g.rows() * g.cols()));
  im2col(g, x.data(), cols.data());
  std::vector<float> y(static_cast<size_t>(cout * g.cols()));
  dense_reference(w.data(), nullptr, cout, g.rows(), cols.data(), g.cols(), y.data());
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t oy = 0; oy < g.out_height(); ++oy)
      for (int64_t ox = 0; ox < g.out_width(); ++ox) {
        double acc = 0;
        for (int64_t c = 0; c < 2; ++c)
          for (int64_t ky = 0; ky < 3; ++ky)
            for (int64_t kx = 0; kx < 3; ++kx) {
              const int64_t iy = oy + ky - 1, ix = ox + kx - 1;
              if (iy < 0 || iy >= 6 || ix < 0 || ix >= 5) continue;
              acc += static_cast<double>(w[((o * 2 + c) * 3 + ky) * 3 + kx]) *
                     x[(c * 6 + iy) * 5 + ix];
            }
        EXPECT_NEAR(y[o * g.cols() + oy * g.out_width() + ox], acc, 1e-5);
      }
}

TEST(Im2col, RejectsBadGeometry) {
  std::vector<float> x(100), out(1000);
  EXPECT_THROW(im2col(ConvGeometry{0, 5, 5, 3, 1, 1}, x.data(), out.data()),
               std::invalid_argument);
  EXPECT_THROW(im2col(ConvGeometry{1, 5, 5, 0, 1, 0}, x.data(), out.data()),
               std::invalid_argument);
  EXPECT_THROW(im2col(ConvGeometry{1, 5, 5, 3, 0, 0}, x.data(), out.data()),
               std::invalid_argument);
  EXPECT_THROW(im2col(ConvGeometry{1, 5, 5, 3, 1, -1}, x.data(), out.data()),
               std::invalid_argument);
  EXPECT_THROW(im2col(ConvGeometry{1, 2, 2, 5, 1, 1}, x.data(), out.data()),
               std::invalid_argument);
  EXPECT_THROW(im2col(ConvGeometry{1, 5, 5, 3, 1, 1}, nullptr, out.data()),
               std::invalid_argument);
}

TEST(Im2colRows, CopiesAnyStretchOfAnyRowAsIm2colWritesIt) {
  uint64_t seed = 70;
  for (const ConvGeometry& g : {ConvGeometry{3, 7, 7, 3, 1, 1}, ConvGeometry{2, 9, 6, 3, 2, 1},
                                ConvGeometry{1, 5, 4, 5, 3, 2}, ConvGeometry{2, 11, 13, 7, 2, 3},
                                ConvGeometry{1, 1, 1, 1, 1, 0}}) {
    const auto x = random_floats(g.channels * g.height * g.width, seed++);
    std::vector<float> full(static_cast<size_t>(g.rows() * g.cols()));
    im2col(g, x.data(), full.data());
    const Im2colRows rows(g, x.data());
    const int64_t n = g.cols();
    for (int64_t row = 0; row < g.rows(); ++row) {
      // Every start, with counts: none, one pixel, to the end of its output row, across output
      // rows, to the end of the matrix row.
      for (int64_t p0 = 0; p0 <= n; ++p0) {
        const int64_t ow = g.out_width();
        for (int64_t count : {int64_t{0}, int64_t{1}, ow - p0 % ow, ow + 1, n - p0}) {
          if (count < 0 || p0 + count > n) continue;
          std::vector<float> out(static_cast<size_t>(count) + 1, -7.0f);
          rows.copy(row, p0, count, out.data());
          for (int64_t i = 0; i < count; ++i) {
            ASSERT_EQ(out[static_cast<size_t>(i)], full[static_cast<size_t>(row * n + p0 + i)])
                << "row " << row << ", pixels " << p0 << " + " << count << ", element " << i;
          }
          ASSERT_EQ(out.back(), -7.0f) << "wrote past " << count << " elements";
        }
      }
    }
  }
}

TEST(Im2colRows, RejectsABadGeometryOrANullImage) {
  const std::vector<float> x(16, 1.0f);
  EXPECT_THROW(Im2colRows(ConvGeometry{1, 4, 4, 5, 1, 0}, x.data()), std::invalid_argument);
  EXPECT_THROW(Im2colRows(ConvGeometry{1, 4, 4, 3, 1, 1}, nullptr), std::invalid_argument);
}

// The convolution kernel packs the column matrix from the image; it must give the very bits of
// im2col followed by dense_ours, on every target, for any thread count, ragged shapes included.
TEST(DenseConvOurs, IsBitwiseIm2colThenDenseOursOnEveryTargetAndThreadCount) {
  ThreadPool p2(2), p3(3);
  for_each_simd_target([&](const std::string& target) {
    uint64_t seed = 90;
    for (const ConvGeometry& g : {ConvGeometry{8, 14, 14, 3, 1, 1}, ConvGeometry{5, 15, 9, 3, 2, 1},
                                  ConvGeometry{3, 23, 23, 7, 2, 3}, ConvGeometry{4, 6, 5, 5, 1, 2},
                                  ConvGeometry{2, 3, 3, 3, 1, 0}, ConvGeometry{40, 8, 8, 3, 1, 1}}) {
      for (int64_t cout : {1, 9, 33}) {
        const auto x = random_floats(g.channels * g.height * g.width, seed++);
        const auto w = random_floats(cout * g.rows(), seed++);
        const auto b = random_floats(cout, seed++);
        const DensePacked packed = pack_dense(w.data(), b.data(), cout, g.rows());
        std::vector<float> cols(static_cast<size_t>(g.rows() * g.cols()));
        im2col(g, x.data(), cols.data());
        for (Activation act : {Activation::kNone, Activation::kRelu6}) {
          std::vector<float> want(static_cast<size_t>(cout * g.cols()));
          dense_ours(packed, cols.data(), g.cols(), want.data(), act, nullptr);
          for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &p2, &p3}) {
            std::vector<float> got(want.size(), -9.0f);
            dense_conv_ours(packed, g, x.data(), got.data(), act, pool);
            EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0)
                << target << ", " << g.channels << "x" << g.height << "x" << g.width << " k"
                << g.kernel << " s" << g.stride << " p" << g.padding << ", " << cout
                << " outputs, " << pool_threads(pool) << " threads";
          }
        }
      }
    }
  });
}

TEST(DenseConvOurs, RejectsWeightsOfTheWrongWidthNamingBoth) {
  const ConvGeometry g{2, 5, 5, 3, 1, 1};
  const std::vector<float> x(50, 1.0f), w(4 * 17, 0.5f);
  std::vector<float> y(4 * 25);
  const DensePacked packed = pack_dense(w.data(), nullptr, 4, 17);
  try {
    dense_conv_ours(packed, g, x.data(), y.data());
    FAIL() << "accepted 17 columns for Cin*k*k = 18";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("4 x 17"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("18"), std::string::npos) << e.what();
  }
  EXPECT_THROW(dense_conv_ours(packed, g, x.data(), nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::kernels
