// ubp-bench-depthwise: the depthwise 3x3 layer kernel on MobileNetV1 1.0's depthwise shapes at
// 224 px, 1 and 2 threads: the layer that takes a third of a sparse MobileNetV1's time in the
// engine (device/README.md), measured alone so a change to it can be judged in isolation.
//
// One benchmark family, depthwise3x3/<C>x<H>x<W>/s<stride>/t<threads>, e.g.
// depthwise3x3/512x14x14/s1/t2. Input and weights uniform(-1, 1), bias, ReLU6 (as in the
// network). Before timing, every case is compared with the scalar reference
// (depthwise3x3_reference) within the rounding bound of nine products; a mismatch ends the case
// with SkipWithError. Data stay warm in the cache between iterations: this measures the kernel
// and the thread split, not the memory traffic between layers (whose effect on two threads is
// described in device/README.md).
//
// Counters (per second of wall time): GFLOPS = 2 * 9 * C * OH * OW; GBps = the bytes of input
// and output one pass must touch at least (4 * C * (H * W + OH * OW)).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ubp/kernels/layers.h"
#include "ubp/kernels/thread_pool.h"

namespace {

using ubp::kernels::Activation;

struct Shape {
  int64_t channels, height, width;
  int stride;
};

// MobileNetV1 1.0 at 224 px: its 13 depthwise layers have these 9 distinct shapes.
const Shape kShapes[] = {{32, 112, 112, 1},  {64, 112, 112, 2}, {128, 56, 56, 1},
                         {128, 56, 56, 2},   {256, 28, 28, 1},  {256, 28, 28, 2},
                         {512, 14, 14, 1},   {512, 14, 14, 2},  {1024, 7, 7, 1}};

std::vector<float> uniform(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

void bm_depthwise(benchmark::State& state, Shape s, int threads) {
  const int64_t oh = (s.height - 1) / s.stride + 1, ow = (s.width - 1) / s.stride + 1;
  const auto w = uniform(9 * s.channels, 1), b = uniform(s.channels, 2);
  const auto x = uniform(s.channels * s.height * s.width, 3);
  std::vector<float> y(static_cast<size_t>(s.channels * oh * ow)), ref(y.size());
  std::unique_ptr<ubp::kernels::ThreadPool> pool;
  if (threads > 1) pool = std::make_unique<ubp::kernels::ThreadPool>(threads);

  ubp::kernels::depthwise3x3(w.data(), b.data(), s.channels, s.height, s.width, s.stride, x.data(), y.data(),
                             Activation::kRelu6, pool.get());
  ubp::kernels::depthwise3x3_reference(w.data(), b.data(), s.channels, s.height, s.width, s.stride, x.data(),
                                       ref.data(), Activation::kRelu6);
  // Nine products and a bias of magnitude at most 1 each: a float sum in any order is within
  // 10 * 10 * FLT_EPSILON of the exact one.
  for (size_t i = 0; i < y.size(); ++i) {
    if (!(std::fabs(y[i] - ref[i]) <= 100.0f * 1.2e-7f)) {
      state.SkipWithError(("output " + std::to_string(i) + " differs from the scalar reference").c_str());
      return;
    }
  }
  for (auto _ : state) {
    ubp::kernels::depthwise3x3(w.data(), b.data(), s.channels, s.height, s.width, s.stride, x.data(), y.data(),
                               Activation::kRelu6, pool.get());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * 9.0 * static_cast<double>(s.channels * oh * ow);
  const double bytes = 4.0 * static_cast<double>(s.channels * (s.height * s.width + oh * ow));
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GBps"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  for (const Shape& s : kShapes) {
    for (int threads : {1, 2}) {
      const std::string name = "depthwise3x3/" + std::to_string(s.channels) + "x" + std::to_string(s.height) + "x" +
                               std::to_string(s.width) + "/s" + std::to_string(s.stride) + "/t" +
                               std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(), bm_depthwise, s, threads)->UseRealTime()->MinTime(0.1);
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
