// How long a cache line takes to go from one core to another and back: the cost that decides
// whether a second thread helps a forward pass whose layers hand feature maps between cores.
//
// On the 2-vCPU development VM this figure moves between two levels from one minute to the next
// (about 55-80 ns and about 400-440 ns, as the host places the two vCPUs), and the engine's
// two-thread speed-up moves with it (device/README.md, "What limits two threads"). Benchmarks
// print it beside their timings so a reader can tell which kind of minute a figure came from.
#pragma once

#include <vector>

namespace ubp::kernels {

struct CoreRoundTrip {
  double median_ns;        // median over the batches of one cache-line round trip
  std::vector<int> cpus;   // the two CPUs the threads were pinned to; empty if not pinned
};

// Two threads pass one cache line back and forth `round_trips` times in each of `batches`
// batches (the calling thread and a new one, each pinned to one of the first two CPUs the
// calling thread may run on, where the OS allows; the caller's affinity is restored after). Throws std::invalid_argument for round_trips < 1 or
// batches < 1, and std::runtime_error when fewer than two CPUs are available.
CoreRoundTrip measure_core_round_trip(int round_trips = 20000, int batches = 5);

}  // namespace ubp::kernels
