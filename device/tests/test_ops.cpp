// Engine operators against plain scalar references (written here from the definitions, summing
// in double), on random shapes including odd sizes, strides 1 and 2 and every activation; and
// bitwise equality between one thread and several.
//
// Tolerance: a float sum of n products may differ from the exact value by at most about
// n * FLT_EPSILON times the sum of the absolute values of its terms (the standard bound; the
// kernels' order of accumulation differs from the reference's). We allow
// max(1e-5, (n + 2) * FLT_EPSILON) times that magnitude per element: 1e-5 relative for the
// small sums of these tests, the rigorous bound for long ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "float_bound.h"
#include "test_util.h"
#include "ubp/device/ops.h"

namespace ubp::device {
namespace {

using kernels::testing::blocks_for_sparsity;
using kernels::testing::random_aligned_blocks;
using kernels::testing::random_floats;
using kernels::testing::random_unaligned_blocks;

constexpr Activation kActivations[] = {Activation::kNone, Activation::kRelu, Activation::kRelu6};

// One pool for the whole suite: starting threads for every case would dominate the run time.
ThreadPool& three_threads() {
  static ThreadPool pool(3);
  return pool;
}

double clamp_reference(double v, Activation act) {
  if (act != Activation::kNone) v = std::max(v, 0.0);
  if (act == Activation::kRelu6) v = std::min(v, 6.0);
  return v;
}

using Expected = testing::Expected;

void expect_close(const std::vector<float>& actual, const Expected& expected,
                  const std::string& what) {
  testing::expect_within_float_bound(actual, expected, what);
}

// Direct convolution on dense weights [Cout][Cin][k][k] with zero padding.
Expected conv_reference(const std::vector<float>& w, const std::vector<float>& bias,
                        int64_t cout, const ImageShape& in, const std::vector<float>& x,
                        const ConvParams& p, Activation act) {
  const int64_t oh = (in.height + 2 * p.padding - p.kernel) / p.stride + 1;
  const int64_t ow = (in.width + 2 * p.padding - p.kernel) / p.stride + 1;
  const int64_t k = p.kernel;
  Expected e;
  e.terms = in.channels * k * k;
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        double sum = bias[o], magnitude = std::abs(bias[o]);
        for (int64_t c = 0; c < in.channels; ++c) {
          for (int64_t ky = 0; ky < k; ++ky) {
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t iy = oy * p.stride + ky - p.padding;
              const int64_t ix = ox * p.stride + kx - p.padding;
              if (iy < 0 || iy >= in.height || ix < 0 || ix >= in.width) continue;
              const double term = static_cast<double>(w[((o * in.channels + c) * k + ky) * k + kx]) *
                                  x[(c * in.height + iy) * in.width + ix];
              sum += term;
              magnitude += std::abs(term);
            }
          }
        }
        e.value.push_back(clamp_reference(sum, act));
        e.magnitude.push_back(magnitude);
      }
    }
  }
  return e;
}

enum class Format { kDense, kAligned, kUnaligned, kUnalignedNaive };
const char* format_name(Format f) {
  switch (f) {
    case Format::kDense: return "dense";
    case Format::kAligned: return "aligned";
    case Format::kUnaligned: return "unaligned";
    case Format::kUnalignedNaive: return "unaligned-naive";
  }
  return "?";
}

// Packs `w` (rows x cols) in `format`; for the sparse formats `w` is replaced by its masked
// version (what the reference must multiply).
PackedWeights pack(Format format, std::vector<float>& w, const std::vector<float>& bias,
                   int64_t rows, int64_t cols, uint64_t seed) {
  if (format == Format::kDense) return kernels::pack_dense(w.data(), bias.data(), rows, cols);
  const kernels::BlockShape shape{4, 1};
  const int64_t m = blocks_for_sparsity(rows, cols, shape, 0.7);
  if (format == Format::kAligned) {
    auto packed = kernels::pack_aligned(w.data(), bias.data(), rows, cols, shape,
                                        random_aligned_blocks(rows, cols, shape, m, seed));
    w = kernels::unpack(packed);
    return packed;
  }
  auto packed = kernels::pack_unaligned(w.data(), bias.data(), rows, cols, shape,
                                        random_unaligned_blocks(rows, cols, shape, m, seed));
  w = kernels::unpack(packed);
  if (format == Format::kUnalignedNaive) return NaiveUnalignedWeights{std::move(packed)};
  return packed;
}

// Runs conv2d on one thread and on three; expects identical bits and returns the result.
std::vector<float> run_conv(const PackedWeights& w, const ImageShape& in,
                            const std::vector<float>& x, const ConvParams& p, Activation act) {
  const ImageShape out = conv_output_shape(in, output_channels(w), p);
  std::vector<float> single(static_cast<size_t>(out.size()), -7.0f), multi(single);
  Workspace workspace;
  conv2d(w, in, x.data(), p, single.data(), act, nullptr, workspace);
  conv2d(w, in, x.data(), p, multi.data(), act, &three_threads(), workspace);
  EXPECT_EQ(single, multi) << "one thread vs three";
  return single;
}

TEST(Conv2d, MatchesADirectConvolutionForEveryWeightFormatKernelStrideAndActivation) {
  uint64_t seed = 100;
  for (Format format :
       {Format::kDense, Format::kAligned, Format::kUnaligned, Format::kUnalignedNaive}) {
    for (int kernel : {1, 3, 5, 7}) {
      for (int stride : {1, 2}) {
        // Padding 1 on a 1x1 kernel takes the im2col path rather than the direct one.
        for (int padding : {0, std::max(1, kernel / 2)}) {
          for (Activation act : kActivations) {
            ++seed;
            // Odd and even sizes; Cin*k*k stays within about 150 terms.
            const int64_t cin = kernel == 3 ? 1 + static_cast<int64_t>(seed % 13)
                                            : 1 + static_cast<int64_t>(seed % 3);
            const ImageShape in{cin, kernel + static_cast<int64_t>(seed % 9),
                                kernel + static_cast<int64_t>((seed * 7) % 11)};
            const int64_t cout = 1 + static_cast<int64_t>((seed * 5) % 19);
            const ConvParams p{kernel, stride, padding};
            auto w = random_floats(cout * cin * kernel * kernel, seed);
            const auto bias = random_floats(cout, seed + 1);
            const auto x = random_floats(in.size(), seed + 2);
            const PackedWeights packed = pack(format, w, bias, cout, cin * kernel * kernel, seed);
            const std::string what = std::string(format_name(format)) + " k" +
                                     std::to_string(kernel) + " s" + std::to_string(stride) +
                                     " p" + std::to_string(padding) + " " +
                                     kernels::to_string(act) + " cin" + std::to_string(cin) +
                                     " " + std::to_string(in.height) + "x" +
                                     std::to_string(in.width) + " cout" + std::to_string(cout);
            expect_close(run_conv(packed, in, x, p, act),
                         conv_reference(w, bias, cout, in, x, p, act), what);
          }
        }
      }
    }
  }
}

TEST(Conv2d, ComputesOneByOneConvolutionsAtStridesOneTwoAndThree) {
  uint64_t seed = 500;
  for (Format format :
       {Format::kDense, Format::kAligned, Format::kUnaligned, Format::kUnalignedNaive}) {
    for (int stride : {1, 2, 3}) {
      for (Activation act : kActivations) {
        for (auto [h, w_] : {std::pair<int64_t, int64_t>{1, 1}, {7, 9}, {14, 14}, {13, 70}}) {
          ++seed;
          const ImageShape in{1 + static_cast<int64_t>(seed % 40), h, w_};
          const int64_t cout = 1 + static_cast<int64_t>((seed * 3) % 37);
          const ConvParams p{1, stride, 0};
          auto w = random_floats(cout * in.channels, seed);
          const auto bias = random_floats(cout, seed + 1);
          const auto x = random_floats(in.size(), seed + 2);
          const PackedWeights packed = pack(format, w, bias, cout, in.channels, seed);
          const std::string what = std::string(format_name(format)) + " s" +
                                   std::to_string(stride) + " " + kernels::to_string(act) + " " +
                                   std::to_string(h) + "x" + std::to_string(w_);
          expect_close(run_conv(packed, in, x, p, act),
                       conv_reference(w, bias, cout, in, x, p, act), what);
        }
      }
    }
  }
}

TEST(Conv2d, RejectsWeightsWhoseColumnsDoNotMatchTheInputChannels) {
  const auto w = random_floats(4 * 27, 1);
  const PackedWeights packed = kernels::pack_dense(w.data(), nullptr, 4, 27);
  const ImageShape in{2, 5, 5};  // Cin*k*k = 18, not 27
  std::vector<float> x(static_cast<size_t>(in.size())), y(4 * 25);
  Workspace workspace;
  try {
    conv2d(packed, in, x.data(), ConvParams{3, 1, 1}, y.data(), Activation::kNone, nullptr,
           workspace);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("27 columns"), std::string::npos) << e.what();
  }
}

Expected depthwise_reference(const std::vector<float>& w, const float* bias, const ImageShape& in,
                             const std::vector<float>& x, int stride, Activation act) {
  const ImageShape out = depthwise3x3_output_shape(in, stride);
  Expected e;
  e.terms = 9;
  for (int64_t c = 0; c < in.channels; ++c) {
    for (int64_t oy = 0; oy < out.height; ++oy) {
      for (int64_t ox = 0; ox < out.width; ++ox) {
        const double b = bias == nullptr ? 0.0 : bias[c];
        double sum = b, magnitude = std::abs(b);
        for (int64_t ky = 0; ky < 3; ++ky) {
          for (int64_t kx = 0; kx < 3; ++kx) {
            const int64_t iy = oy * stride + ky - 1, ix = ox * stride + kx - 1;
            if (iy < 0 || iy >= in.height || ix < 0 || ix >= in.width) continue;
            const double term =
                static_cast<double>(w[c * 9 + ky * 3 + kx]) * x[(c * in.height + iy) * in.width + ix];
            sum += term;
            magnitude += std::abs(term);
          }
        }
        e.value.push_back(clamp_reference(sum, act));
        e.magnitude.push_back(magnitude);
      }
    }
  }
  return e;
}

TEST(DepthwiseConv3x3, MatchesTheDirectLoopForStridesOneAndTwoAndEveryActivation) {
  uint64_t seed = 900;
  for (int stride : {1, 2}) {
    for (Activation act : kActivations) {
      for (bool with_bias : {true, false}) {
        for (auto [h, w_] : {std::pair<int64_t, int64_t>{1, 1}, {2, 3}, {7, 7}, {17, 5}, {1, 20},
                             {28, 33}}) {
          ++seed;
          const ImageShape in{1 + static_cast<int64_t>(seed % 11), h, w_};
          const auto w = random_floats(in.channels * 9, seed);
          const auto bias = random_floats(in.channels, seed + 1);
          const auto x = random_floats(in.size(), seed + 2);
          const float* b = with_bias ? bias.data() : nullptr;
          const ImageShape out = depthwise3x3_output_shape(in, stride);
          std::vector<float> single(static_cast<size_t>(out.size()), -7.0f), multi(single);
          depthwise_conv3x3(w.data(), b, in, x.data(), stride, single.data(), act, nullptr);
          depthwise_conv3x3(w.data(), b, in, x.data(), stride, multi.data(), act,
                            &three_threads());
          const std::string what = "s" + std::to_string(stride) + " " + kernels::to_string(act) +
                                   (with_bias ? " bias " : " no bias ") + std::to_string(h) +
                                   "x" + std::to_string(w_);
          EXPECT_EQ(single, multi) << what << ": one thread vs three";
          expect_close(single, depthwise_reference(w, b, in, x, stride, act), what);
        }
      }
    }
  }
}

TEST(DepthwiseConv3x3, RejectsStridesOtherThanOneAndTwo) {
  EXPECT_THROW(depthwise3x3_output_shape(ImageShape{1, 4, 4}, 3), std::invalid_argument);
  EXPECT_THROW(depthwise3x3_output_shape(ImageShape{1, 4, 4}, 0), std::invalid_argument);
}

TEST(DepthwisePointwise, GivesTheBitsOfTheTwoLayersRunOneAfterTheOtherForAnyThreadCount) {
  // Every weight format, strides 1 and 2, planes from one row to 57 (1 to 8 bands of rows), on
  // one thread and on 2, 3 and 7 (more threads than rows included).
  ThreadPool two(2), seven(7);
  uint64_t seed = 1300;
  for (Format format :
       {Format::kDense, Format::kAligned, Format::kUnaligned, Format::kUnalignedNaive}) {
    for (int stride : {1, 2}) {
      for (auto [h, w_] : {std::pair<int64_t, int64_t>{1, 1}, {3, 2}, {7, 7}, {14, 14}, {15, 9},
                           {57, 30}}) {
        ++seed;
        const ImageShape in{1 + static_cast<int64_t>(seed % 13), h, w_};
        const int64_t cout = 1 + static_cast<int64_t>((seed * 5) % 19);
        const auto dw = random_floats(in.channels * 9, seed);
        const auto dw_bias = random_floats(in.channels, seed + 1);
        const auto x = random_floats(in.size(), seed + 2);
        auto pw_w = random_floats(cout * in.channels, seed + 3);
        const auto pw_bias = random_floats(cout, seed + 4);
        const PackedWeights pw = pack(format, pw_w, pw_bias, cout, in.channels, seed + 5);
        const ImageShape mid = depthwise3x3_output_shape(in, stride);
        // The two operators, one thread.
        std::vector<float> mid_ref(static_cast<size_t>(mid.size())), y_ref(
            static_cast<size_t>(cout * mid.pixels()));
        Workspace workspace;
        depthwise_conv3x3(dw.data(), dw_bias.data(), in, x.data(), stride, mid_ref.data(),
                          Activation::kRelu6, nullptr);
        conv2d(pw, mid, mid_ref.data(), ConvParams{1, 1, 0}, y_ref.data(), Activation::kRelu,
               nullptr, workspace);
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two, &three_threads(), &seven}) {
          const std::string what = std::string(format_name(format)) + " s" +
                                   std::to_string(stride) + " " + std::to_string(in.channels) +
                                   "x" + std::to_string(h) + "x" + std::to_string(w_) + " cout " +
                                   std::to_string(cout) + " threads " +
                                   std::to_string(kernels::pool_threads(pool));
          std::vector<float> m(mid_ref.size(), -7.0f), y(y_ref.size(), -7.0f);
          FusedPartSeconds seconds;
          depthwise_pointwise(dw.data(), dw_bias.data(), in, x.data(), stride, Activation::kRelu6,
                              m.data(), pw, y.data(), Activation::kRelu, pool, &seconds);
          EXPECT_EQ(m, mid_ref) << what;
          EXPECT_EQ(y, y_ref) << what;
          EXPECT_GT(seconds.depthwise, 0.0) << what;
          EXPECT_GT(seconds.pointwise, 0.0) << what;
        }
      }
    }
  }
}

TEST(DepthwisePointwise, RejectsA1x1LayerWhoseColumnsAreNotTheDepthwiseChannels) {
  const ImageShape in{4, 5, 5};
  const auto w = random_floats(64, 1);
  const PackedWeights pw = kernels::pack_dense(w.data(), nullptr, 2, 3);  // 3 columns, 4 channels
  std::vector<float> x(static_cast<size_t>(in.size())), mid(x.size()), y(50);
  EXPECT_THROW(depthwise_pointwise(w.data(), nullptr, in, x.data(), 1, Activation::kNone,
                                   mid.data(), pw, y.data(), Activation::kNone, nullptr),
               std::invalid_argument);
}

TEST(ResidualAdd, AddsAndClampsElementwiseAlsoInPlace) {
  const int64_t n = 1001;
  // Scaled by 8 so ReLU6's upper clamp is reached.
  auto a = random_floats(n, 1), b = random_floats(n, 2);
  for (auto& v : a) v *= 8.0f;
  for (auto& v : b) v *= 8.0f;
  for (Activation act : kActivations) {
    std::vector<float> expected(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      expected[i] = static_cast<float>(clamp_reference(a[i] + b[i], act));
    }
    std::vector<float> y(static_cast<size_t>(n));
    residual_add(a.data(), b.data(), n, y.data(), act);
    EXPECT_EQ(y, expected) << kernels::to_string(act);
    std::vector<float> in_place = a;
    residual_add(in_place.data(), b.data(), n, in_place.data(), act);
    EXPECT_EQ(in_place, expected) << kernels::to_string(act) << " in place";
  }
}

TEST(GlobalAveragePool, AveragesEveryChannel) {
  for (auto [h, w_] : {std::pair<int64_t, int64_t>{1, 1}, {7, 7}, {3, 11}, {112, 112}}) {
    const ImageShape in{5, h, w_};
    const auto x = random_floats(in.size(), static_cast<uint64_t>(h * 100 + w_));
    std::vector<float> y(5);
    global_average_pool(in, x.data(), y.data());
    Expected e;
    e.terms = in.pixels();  // a float sum over the plane (SIMD lanes, then the lanes in order)
    for (int64_t c = 0; c < 5; ++c) {
      double sum = 0.0, magnitude = 0.0;
      for (int64_t i = 0; i < in.pixels(); ++i) {
        sum += x[c * in.pixels() + i];
        magnitude += std::abs(x[c * in.pixels() + i]);
      }
      e.value.push_back(sum / static_cast<double>(in.pixels()));
      e.magnitude.push_back(magnitude / static_cast<double>(in.pixels()));
    }
    expect_close(y, e, std::to_string(h) + "x" + std::to_string(w_));
  }
}

std::vector<float> max_pool_reference(const ImageShape& in, const std::vector<float>& x,
                                      const ConvParams& p) {
  const int64_t oh = (in.height + 2 * p.padding - p.kernel) / p.stride + 1;
  const int64_t ow = (in.width + 2 * p.padding - p.kernel) / p.stride + 1;
  std::vector<float> out;
  for (int64_t c = 0; c < in.channels; ++c) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        float best = -INFINITY;
        for (int64_t ky = 0; ky < p.kernel; ++ky) {
          for (int64_t kx = 0; kx < p.kernel; ++kx) {
            const int64_t iy = oy * p.stride + ky - p.padding, ix = ox * p.stride + kx - p.padding;
            if (iy < 0 || iy >= in.height || ix < 0 || ix >= in.width) continue;
            best = std::max(best, x[(c * in.height + iy) * in.width + ix]);
          }
        }
        out.push_back(best);
      }
    }
  }
  return out;
}

TEST(MaxPool, TakesTheWindowMaximumForTheResNetStemAndOtherWindows) {
  uint64_t seed = 1300;
  for (ConvParams p : {ConvParams{3, 2, 1}, ConvParams{2, 2, 0}, ConvParams{3, 1, 1},
                       ConvParams{3, 2, 0}}) {
    for (auto [h, w_] : {std::pair<int64_t, int64_t>{3, 3}, {4, 4}, {7, 9}, {112, 112},
                         {15, 6}}) {
      ++seed;
      const ImageShape in{1 + static_cast<int64_t>(seed % 7), h, w_};
      const auto x = random_floats(in.size(), seed);
      const ImageShape out = max_pool_output_shape(in, p);
      std::vector<float> single(static_cast<size_t>(out.size())), multi(single);
      max_pool(in, x.data(), p, single.data(), nullptr);
      max_pool(in, x.data(), p, multi.data(), &three_threads());
      const std::string what = "k" + std::to_string(p.kernel) + " s" + std::to_string(p.stride) +
                               " p" + std::to_string(p.padding) + " " + std::to_string(h) + "x" +
                               std::to_string(w_);
      EXPECT_EQ(single, max_pool_reference(in, x, p)) << what;
      EXPECT_EQ(single, multi) << what << ": one thread vs three";
    }
  }
}

TEST(MaxPool, RejectsPaddingLargerThanHalfTheKernel) {
  EXPECT_THROW(max_pool_output_shape(ImageShape{1, 8, 8}, ConvParams{3, 2, 2}),
               std::invalid_argument);
}

TEST(FullyConnected, MatchesTheMatrixVectorProductOnOneAndSeveralThreads) {
  uint64_t seed = 1700;
  for (int64_t in : {1, 7, 8, 9, 100, 1001}) {
    for (int64_t out : {1, 10, 1000}) {
      for (Activation act : kActivations) {
        ++seed;
        const auto w = random_floats(out * in, seed);
        const auto bias = random_floats(out, seed + 1);
        const auto x = random_floats(in, seed + 2);
        std::vector<float> single(static_cast<size_t>(out)), multi(single);
        fully_connected(w.data(), bias.data(), out, in, x.data(), single.data(), act, nullptr);
        fully_connected(w.data(), bias.data(), out, in, x.data(), multi.data(), act,
                        &three_threads());
        const std::string what = std::to_string(out) + "x" + std::to_string(in) + " " +
                                 kernels::to_string(act);
        EXPECT_EQ(single, multi) << what << ": one thread vs three";
        Expected e;
        e.terms = in;
        for (int64_t o = 0; o < out; ++o) {
          double sum = bias[o], magnitude = std::abs(bias[o]);
          for (int64_t i = 0; i < in; ++i) {
            const double term = static_cast<double>(w[o * in + i]) * x[i];
            sum += term;
            magnitude += std::abs(term);
          }
          e.value.push_back(clamp_reference(sum, act));
          e.magnitude.push_back(magnitude);
        }
        expect_close(single, e, what);
      }
    }
  }
}

}  // namespace
}  // namespace ubp::device
