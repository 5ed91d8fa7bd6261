// The layer kernels (layers.h) against their scalar references on every SIMD target the CPU
// has, on shapes with ragged edges (odd widths, planes narrower than one vector, widths around
// the vector length), and bitwise identical for 1, 2, 3 and 7 threads.
//
// Bound per element, as error_bounds() for the matrix kernels: |y - ref| <= 4 * eps *
// (terms + 2) * (sum of |term| + |bias|) + 1e-30, where the sum of absolute terms is the
// reference itself run on absolute values (no activation).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "test_util.h"
#include "ubp/kernels/layers.h"
#include "ubp/kernels/spmm.h"

namespace ubp::kernels {
namespace {

using namespace ubp::kernels::testing;

constexpr Activation kActivations[] = {Activation::kNone, Activation::kRelu, Activation::kRelu6};

std::vector<float> bounds_from(const std::vector<float>& magnitude, int64_t terms) {
  std::vector<float> bound(magnitude.size());
  for (size_t i = 0; i < bound.size(); ++i) {
    bound[i] = 4.0f * FLT_EPSILON * static_cast<float>(terms + 2) * magnitude[i] + 1e-30f;
  }
  return bound;
}

struct Plane {
  int64_t c, h, w;
};
// Widths below, at and above the vector lengths (4, 8, 16 floats) and MobileNet's own.
const std::vector<Plane> kPlanes = {{1, 1, 1},  {2, 1, 5},   {3, 2, 2},   {5, 7, 7},
                                    {4, 3, 15}, {3, 9, 16},  {2, 14, 14}, {3, 13, 17},
                                    {2, 5, 33}, {2, 28, 28}, {1, 4, 112}, {2, 11, 31}};

struct Depthwise {
  Plane p;
  int stride;
  std::vector<float> w, b, x;
  Depthwise(Plane plane, int s, uint64_t seed) : p(plane), stride(s) {
    w = random_floats(p.c * 9, seed);
    b = random_floats(p.c, seed + 1);
    x = random_floats(p.c * p.h * p.w, seed + 2);
  }
  int64_t out_size() const {
    return p.c * ((p.h - 1) / stride + 1) * ((p.w - 1) / stride + 1);
  }
  std::vector<float> reference(Activation act) const {
    std::vector<float> y(static_cast<size_t>(out_size()));
    depthwise3x3_reference(w.data(), b.data(), p.c, p.h, p.w, stride, x.data(), y.data(), act);
    return y;
  }
  std::vector<float> bound() const {
    std::vector<float> m(static_cast<size_t>(out_size()));
    const auto aw = absolute(w), ab = absolute(b), ax = absolute(x);
    depthwise3x3_reference(aw.data(), ab.data(), p.c, p.h, p.w, stride, ax.data(), m.data());
    return bounds_from(m, 9);
  }
  std::vector<float> run(Activation act, ThreadPool* pool) const {
    std::vector<float> y(static_cast<size_t>(out_size()), -7.0f);
    depthwise3x3(w.data(), b.data(), p.c, p.h, p.w, stride, x.data(), y.data(), act, pool);
    return y;
  }
  std::string name() const {
    return std::to_string(p.c) + "x" + std::to_string(p.h) + "x" + std::to_string(p.w) +
           " stride " + std::to_string(stride);
  }
};

TEST(Depthwise3x3, MatchesTheReferenceOnEveryTargetStrideAndActivation) {
  for_each_simd_target([&](const std::string& target) {
    uint64_t seed = 1;
    for (const Plane& p : kPlanes) {
      for (int stride : {1, 2}) {
        const Depthwise d(p, stride, seed += 3);
        const auto bound = d.bound();
        for (Activation act : kActivations) {
          EXPECT_EQ(first_violation(d.run(act, nullptr), d.reference(act), bound), -1)
              << target << " " << d.name() << " " << to_string(act);
        }
      }
    }
  });
}

TEST(Depthwise3x3, WithoutBiasAndWithLargerPlanesAfterSmallOnes) {
  // The per-thread plane buffer is reused: a small plane after a large one must not read stale
  // borders.
  for_each_simd_target([&](const std::string& target) {
    for (const Plane& p : {Plane{2, 30, 40}, Plane{3, 5, 6}, Plane{1, 31, 3}, Plane{2, 4, 4}}) {
      for (int stride : {1, 2}) {
        Depthwise d(p, stride, 77);
        const auto bound = d.bound();  // with bias; the bias-free error is smaller
        std::vector<float> y(static_cast<size_t>(d.out_size())), ref(y.size());
        depthwise3x3(d.w.data(), nullptr, p.c, p.h, p.w, stride, d.x.data(), y.data());
        depthwise3x3_reference(d.w.data(), nullptr, p.c, p.h, p.w, stride, d.x.data(), ref.data());
        EXPECT_EQ(first_violation(y, ref, bound), -1) << target << " " << d.name();
      }
    }
  });
}

TEST(Depthwise3x3, GivesBitwiseIdenticalResultsForAnyThreadCount) {
  // Threads split the output rows into bands (one per thread, fewer for short planes) and the
  // channels into chunks: every plane below, down to one row and one channel, on every target.
  ThreadPool p2(2), p3(3), p7(7);
  for_each_simd_target([&](const std::string& target) {
    uint64_t seed = 5;
    std::vector<Plane> planes = kPlanes;
    planes.push_back({37, 14, 14});
    planes.push_back({29, 15, 28});
    for (const Plane& p : planes) {
      for (int stride : {1, 2}) {
        const Depthwise d(p, stride, seed += 2);
        const auto one = d.run(Activation::kRelu6, nullptr);
        EXPECT_EQ(first_violation(one, d.reference(Activation::kRelu6), d.bound()), -1)
            << target << " " << d.name();
        for (ThreadPool* pool : {&p2, &p3, &p7}) {
          EXPECT_EQ(d.run(Activation::kRelu6, pool), one)
              << target << " " << d.name() << " " << pool->threads() << " threads";
        }
      }
    }
  });
}

TEST(Depthwise3x3Rows, AnyRowBandIsBitwiseTheSameRowsOfTheWholeLayerAndTouchesNothingElse) {
  // Every band [oy0, oy1) of every plane (down to single rows, the first and the last), strides 1
  // and 2, on every target: the band's rows equal depthwise3x3's bitwise; the rest of y keeps
  // its sentinel.
  for_each_simd_target([&](const std::string& target) {
    uint64_t seed = 11;
    for (const Plane& p : kPlanes) {
      for (int stride : {1, 2}) {
        const Depthwise d(p, stride, seed += 3);
        const auto whole = d.run(Activation::kRelu6, nullptr);
        const int64_t oh = (p.h - 1) / stride + 1, ow = (p.w - 1) / stride + 1;
        for (int64_t oy0 = 0; oy0 < oh; ++oy0) {
          for (int64_t oy1 = oy0 + 1; oy1 <= oh; ++oy1) {
            std::vector<float> y(whole.size(), -7.0f);
            depthwise3x3_rows(d.w.data(), d.b.data(), p.c, p.h, p.w, stride, d.x.data(),
                              y.data(), oy0, oy1, Activation::kRelu6);
            for (int64_t i = 0; i < static_cast<int64_t>(y.size()); ++i) {
              const int64_t oy = i / ow % oh;
              const float expected = oy >= oy0 && oy < oy1 ? whole[static_cast<size_t>(i)] : -7.0f;
              ASSERT_EQ(y[static_cast<size_t>(i)], expected)
                  << target << " " << d.name() << " rows [" << oy0 << ", " << oy1 << ") element "
                  << i;
            }
          }
        }
      }
    }
  });
}

TEST(GlobalAveragePool, MatchesTheReferenceAndIsThreadCountIndependent) {
  ThreadPool p2(2), p3(3);
  for_each_simd_target([&](const std::string& target) {
    for (const Plane& p : kPlanes) {
      const int64_t c = p.c * 50, hw = p.h * p.w;  // enough channels to be split over threads
      const auto x = random_floats(c * hw, static_cast<uint64_t>(hw));
      std::vector<float> m(static_cast<size_t>(c)), ref(m.size());
      const auto ax = absolute(x);
      global_average_pool_reference(c, hw, ax.data(), m.data());
      const auto bound = bounds_from(m, hw);
      for (Activation act : kActivations) {
        std::vector<float> y(m.size(), -7.0f);
        global_average_pool(c, hw, x.data(), y.data(), act, nullptr);
        global_average_pool_reference(c, hw, x.data(), ref.data(), act);
        EXPECT_EQ(first_violation(y, ref, bound), -1) << target << " " << c << "x" << hw;
        for (ThreadPool* pool : {&p2, &p3}) {
          std::vector<float> yt(m.size());
          global_average_pool(c, hw, x.data(), yt.data(), act, pool);
          EXPECT_EQ(yt, y) << target << " threads " << pool->threads();
        }
      }
    }
  });
}

TEST(FullyConnected, MatchesTheReferenceAndIsThreadCountIndependent) {
  ThreadPool p2(2), p7(7);
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {1, 1}, {3, 5}, {10, 17}, {7, 64}, {130, 33}, {1000, 1024}, {257, 100}};
  for_each_simd_target([&](const std::string& target) {
    uint64_t seed = 40;
    for (const auto& [out, in] : shapes) {
      const auto w = random_floats(out * in, seed += 3), b = random_floats(out, seed + 1),
                 x = random_floats(in, seed + 2);
      std::vector<float> m(static_cast<size_t>(out)), ref(m.size());
      const auto aw = absolute(w), ab = absolute(b), ax = absolute(x);
      fully_connected_reference(aw.data(), ab.data(), out, in, ax.data(), m.data());
      const auto bound = bounds_from(m, in);
      for (Activation act : kActivations) {
        std::vector<float> y(m.size(), -7.0f);
        fully_connected(w.data(), b.data(), out, in, x.data(), y.data(), act, nullptr);
        fully_connected_reference(w.data(), b.data(), out, in, x.data(), ref.data(), act);
        EXPECT_EQ(first_violation(y, ref, bound), -1) << target << " " << out << "x" << in;
        for (ThreadPool* pool : {&p2, &p7}) {
          std::vector<float> yt(m.size());
          fully_connected(w.data(), b.data(), out, in, x.data(), yt.data(), act, pool);
          EXPECT_EQ(yt, y) << target << " threads " << pool->threads();
        }
      }
    }
  });
}

// Direct convolution and max pooling: kernel, stride, padding of MobileNet's first convolution
// (3/2/1), ResNet's (7/2/3) and its max pooling (3/2/1), and others, on the ragged planes.
struct Window {
  int kernel, stride, padding;
};
const std::vector<Window> kWindows = {{3, 2, 1}, {7, 2, 3}, {3, 1, 1}, {1, 1, 0},
                                      {2, 2, 0}, {5, 1, 2}, {3, 2, 0}};

int64_t window_out(int64_t size, const Window& win) {
  return (size + 2 * win.padding - win.kernel) / win.stride + 1;
}
bool fits(const Plane& p, const Window& win) {
  return p.h + 2 * win.padding >= win.kernel && p.w + 2 * win.padding >= win.kernel;
}
std::string window_name(const Plane& p, const Window& win) {
  return std::to_string(p.c) + "x" + std::to_string(p.h) + "x" + std::to_string(p.w) + " k" +
         std::to_string(win.kernel) + " s" + std::to_string(win.stride) + " p" +
         std::to_string(win.padding);
}

TEST(ConvDirect, MatchesTheReferenceOnEveryTargetWindowAndActivation) {
  ThreadPool p2(2), p3(3);
  for_each_simd_target([&](const std::string& target) {
    uint64_t seed = 300;
    for (const Plane& p : kPlanes) {
      for (const Window& win : kWindows) {
        if (!fits(p, win)) continue;
        // Below, off and on the 4- and 8-channel blocks, and a full 8-block plus a part.
        for (int64_t cout : {1, 6, 12, 32}) {
          const int64_t taps = p.c * win.kernel * win.kernel;
          const auto w = random_floats(cout * taps, seed += 3), b = random_floats(cout, seed + 1),
                     x = random_floats(p.c * p.h * p.w, seed + 2);
          const int64_t out = cout * window_out(p.h, win) * window_out(p.w, win);
          std::vector<float> m(static_cast<size_t>(out)), ref(m.size());
          const auto aw = absolute(w), ab = absolute(b), ax = absolute(x);
          conv_direct_reference(aw.data(), ab.data(), cout, p.c, p.h, p.w, win.kernel,
                                win.stride, win.padding, ax.data(), m.data());
          const auto bound = bounds_from(m, taps);
          for (Activation act : kActivations) {
            std::vector<float> y(m.size(), -7.0f);
            conv_direct(w.data(), b.data(), cout, p.c, p.h, p.w, win.kernel, win.stride,
                        win.padding, x.data(), y.data(), act, nullptr);
            conv_direct_reference(w.data(), b.data(), cout, p.c, p.h, p.w, win.kernel,
                                  win.stride, win.padding, x.data(), ref.data(), act);
            EXPECT_EQ(first_violation(y, ref, bound), -1)
                << target << " " << window_name(p, win) << " cout " << cout << " "
                << to_string(act);
            for (ThreadPool* pool : {&p2, &p3}) {
              std::vector<float> yt(m.size(), -7.0f);
              conv_direct(w.data(), b.data(), cout, p.c, p.h, p.w, win.kernel, win.stride,
                          win.padding, x.data(), yt.data(), act, pool);
              EXPECT_EQ(yt, y) << target << " " << window_name(p, win) << " threads "
                               << pool->threads();
            }
          }
        }
      }
    }
  });
}

TEST(ConvDirect, MobileNetsFirstLayerWithoutBias) {
  // 3 x 224 x 224 -> 32 x 112 x 112: many row bands per thread, the real shape.
  const int64_t cin = 3, h = 224, cout = 32;
  const auto w = random_floats(cout * cin * 9, 5), x = random_floats(cin * h * h, 6);
  const int64_t out = cout * 112 * 112;
  std::vector<float> y(static_cast<size_t>(out)), ref(y.size()), m(y.size());
  const auto aw = absolute(w), ax = absolute(x);
  conv_direct_reference(aw.data(), nullptr, cout, cin, h, h, 3, 2, 1, ax.data(), m.data());
  ThreadPool p2(2);
  conv_direct(w.data(), nullptr, cout, cin, h, h, 3, 2, 1, x.data(), y.data(), Activation::kNone,
              &p2);
  conv_direct_reference(w.data(), nullptr, cout, cin, h, h, 3, 2, 1, x.data(), ref.data());
  EXPECT_EQ(first_violation(y, ref, bounds_from(m, 27)), -1);
}

TEST(MaxPool, MatchesTheReferenceExactlyOnEveryTargetAndThreadCount) {
  ThreadPool p2(2), p7(7);
  for_each_simd_target([&](const std::string& target) {
    uint64_t seed = 500;
    for (const Plane& p : kPlanes) {
      for (const Window& win : kWindows) {
        if (!fits(p, win)) continue;
        const auto x = random_floats(p.c * p.h * p.w, seed += 2);
        const int64_t out = p.c * window_out(p.h, win) * window_out(p.w, win);
        std::vector<float> y(static_cast<size_t>(out), -7.0f), ref(y.size());
        max_pool(p.c, p.h, p.w, win.kernel, win.stride, win.padding, x.data(), y.data());
        max_pool_reference(p.c, p.h, p.w, win.kernel, win.stride, win.padding, x.data(),
                           ref.data());
        EXPECT_EQ(y, ref) << target << " " << window_name(p, win);
        for (ThreadPool* pool : {&p2, &p7}) {
          std::vector<float> yt(y.size(), -7.0f);
          max_pool(p.c, p.h, p.w, win.kernel, win.stride, win.padding, x.data(), yt.data(), pool);
          EXPECT_EQ(yt, ref) << target << " " << window_name(p, win) << " threads "
                             << pool->threads();
        }
      }
    }
  });
}

TEST(LayerKernels, RejectBadArguments) {
  const std::vector<float> buf(64, 1.0f);
  std::vector<float> out(64);
  EXPECT_THROW(depthwise3x3(buf.data(), nullptr, 1, 4, 4, 3, buf.data(), out.data()),
               std::invalid_argument);
  EXPECT_THROW(depthwise3x3(buf.data(), nullptr, 0, 4, 4, 1, buf.data(), out.data()),
               std::invalid_argument);
  EXPECT_THROW(depthwise3x3(nullptr, nullptr, 1, 4, 4, 1, buf.data(), out.data()),
               std::invalid_argument);
  // Row bands: empty, reversed, past the output's rows (4 x 4 stride 2 has 2).
  EXPECT_THROW(depthwise3x3_rows(buf.data(), nullptr, 1, 4, 4, 2, buf.data(), out.data(), 1, 1),
               std::invalid_argument);
  EXPECT_THROW(depthwise3x3_rows(buf.data(), nullptr, 1, 4, 4, 2, buf.data(), out.data(), 2, 1),
               std::invalid_argument);
  EXPECT_THROW(depthwise3x3_rows(buf.data(), nullptr, 1, 4, 4, 2, buf.data(), out.data(), 0, 3),
               std::invalid_argument);
  EXPECT_THROW(global_average_pool(1, 0, buf.data(), out.data()), std::invalid_argument);
  EXPECT_THROW(fully_connected(buf.data(), nullptr, 0, 4, buf.data(), out.data()),
               std::invalid_argument);
  // Stride 3, padding above kernel / 2, a kernel larger than the padded plane, no channels.
  EXPECT_THROW(conv_direct(buf.data(), nullptr, 1, 1, 4, 4, 3, 3, 1, buf.data(), out.data()),
               std::invalid_argument);
  EXPECT_THROW(conv_direct(buf.data(), nullptr, 1, 1, 4, 4, 3, 1, 2, buf.data(), out.data()),
               std::invalid_argument);
  EXPECT_THROW(conv_direct(buf.data(), nullptr, 1, 1, 2, 2, 7, 1, 1, buf.data(), out.data()),
               std::invalid_argument);
  EXPECT_THROW(conv_direct(buf.data(), nullptr, 0, 1, 4, 4, 3, 1, 1, buf.data(), out.data()),
               std::invalid_argument);
  EXPECT_THROW(max_pool(0, 4, 4, 3, 2, 1, buf.data(), out.data()), std::invalid_argument);
  EXPECT_THROW(max_pool(1, 4, 4, 3, 2, 2, buf.data(), out.data()), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::kernels
