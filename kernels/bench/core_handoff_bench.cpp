// ubp-bench-core-handoff: what it costs this machine when one core touches cache lines another
// core has just written, the cost that decides whether a second engine thread helps
// (device/README.md, "What limits two threads"). Two threads of our ThreadPool throughout.
//
// Families:
//   handoff/round_trip         one cache line passed between two pinned threads and back
//                              (kernels/core_round_trip.h); counter ns per round trip
//   handoff/write/<KiB>/keep   each thread writes its own half of a buffer, every iteration
//   handoff/write/<KiB>/swap   the halves change hands every iteration: every line a thread
//                              writes was last written by the other core
//   handoff/writer512x14x14/<writer>     the writing pass below alone
//   handoff/depthwise512x14x14/<writer>  a pass that writes the depthwise input (512 x 14 x 14,
//                              as a 1x1 layer would), then the depthwise layer on two threads
//                              split by channel halves. writer = channels: the input is written
//                              by channel halves, so each thread reads what it wrote; pixels:
//                              written by pixel halves of every plane in tiles of 32 pixels,
//                              each tile down every channel (as the engine's 1x1 kernels), so
//                              half of what each thread reads comes from the other core, and
//                              the line holding both halves' boundary pixels of a plane (most
//                              planes: 196 floats are not a whole number of 64-byte lines) is
//                              written by both cores.
// Counter GBps: bytes written (write families) or written and read (depthwise) per second.
// keep/swap and channels/pixels side by side give the price of a handoff; on the 2-vCPU
// development VM, in a phase where the engine gained nothing from its second thread, swapping
// halves cost 1.5x, pixel-half writes 5x and the depthwise layer after them 3x
// (device/README.md, "What limits two threads").
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ubp/kernels/core_round_trip.h"
#include "ubp/kernels/layers.h"
#include "ubp/kernels/thread_pool.h"

namespace {

using ubp::kernels::Activation;
using ubp::kernels::ThreadPool;

ThreadPool& two_threads() {
  static ThreadPool pool(2);
  return pool;
}

void bm_round_trip(benchmark::State& state) {
  double sum_ns = 0.0;
  for (auto _ : state) sum_ns += ubp::kernels::measure_core_round_trip(20000, 1).median_ns;
  state.counters["ns"] = sum_ns / static_cast<double>(state.iterations());
}

void bm_write(benchmark::State& state, int64_t kib, bool swap) {
  std::vector<float> buffer(static_cast<size_t>(kib * 256), 1.0f);
  const size_t half = buffer.size() / 2;
  int64_t round = 0;
  for (auto _ : state) {
    const int64_t flip = swap ? round & 1 : 0;
    // Home ranges: task 0 runs on the calling thread, task 1 on the worker (unless stolen).
    two_threads().parallel_for(2, [&](int64_t t) {
      float* part = buffer.data() + static_cast<size_t>(t ^ flip) * half;
      std::fill(part, part + half, static_cast<float>(round));
    });
    benchmark::ClobberMemory();
    ++round;
  }
  state.counters["GBps"] = benchmark::Counter(4e-9 * static_cast<double>(buffer.size()),
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void bm_depthwise(benchmark::State& state, bool by_pixels, bool with_depthwise) {
  constexpr int64_t kChannels = 512, kSide = 14, kPlane = kSide * kSide;
  std::vector<float> x(static_cast<size_t>(kChannels * kPlane)), y(x.size());
  std::vector<float> w(static_cast<size_t>(9 * kChannels), 0.1f), b(static_cast<size_t>(kChannels));
  int64_t round = 0;
  for (auto _ : state) {
    const float value = static_cast<float>(round % 7);
    two_threads().parallel_for(2, [&](int64_t t) {
      if (by_pixels) {
        // As the 1x1 kernels write: tiles of 32 pixels outer, every channel inner.
        const int64_t begin = t * kPlane / 2, end = (t + 1) * kPlane / 2;
        for (int64_t p0 = begin; p0 < end; p0 += 32) {
          const int64_t p1 = std::min(end, p0 + 32);
          for (int64_t c = 0; c < kChannels; ++c) {
            std::fill(x.data() + c * kPlane + p0, x.data() + c * kPlane + p1, value);
          }
        }
      } else {
        float* p = x.data() + t * kChannels / 2 * kPlane;
        std::fill(p, p + kChannels / 2 * kPlane, value);
      }
    });
    if (with_depthwise) {
      ubp::kernels::depthwise3x3(w.data(), b.data(), kChannels, kSide, kSide, 1, x.data(),
                                 y.data(), Activation::kRelu6, &two_threads());
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    ++round;
  }
  // The writer's bytes, then the depthwise layer's reads and writes.
  state.counters["GBps"] = benchmark::Counter(4e-9 * (with_depthwise ? 3.0 : 1.0) * static_cast<double>(x.size()),
                                              benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("handoff/round_trip", bm_round_trip)->UseRealTime()->MinTime(0.2);
  for (int64_t kib : {256, 800, 3200}) {
    for (bool swap : {false, true}) {
      const std::string name =
          "handoff/write/" + std::to_string(kib) + "/" + (swap ? "swap" : "keep");
      benchmark::RegisterBenchmark(name.c_str(), bm_write, kib, swap)->UseRealTime()->MinTime(0.2);
    }
  }
  for (bool with_depthwise : {false, true}) {
    for (bool by_pixels : {false, true}) {
      const std::string name = std::string("handoff/") +
                               (with_depthwise ? "depthwise512x14x14/" : "writer512x14x14/") +
                               (by_pixels ? "pixels" : "channels");
      benchmark::RegisterBenchmark(name.c_str(), bm_depthwise, by_pixels, with_depthwise)
          ->UseRealTime()
          ->MinTime(0.2);
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
