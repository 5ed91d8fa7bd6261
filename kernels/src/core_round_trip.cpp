#include "ubp/kernels/core_round_trip.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif
#include "cpu_relax.h"

namespace ubp::kernels {
namespace {

// The first two CPUs the calling thread may run on; empty where that cannot be known.
std::vector<int> first_two_cpus() {
  std::vector<int> cpus;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
#endif
  return cpus;
}

// Pins the calling thread to `cpu`; false where the OS refuses or has no such call. On Linux,
// pid 0 in the sched_*affinity calls means the calling thread (and bionic has no
// pthread_setaffinity_np).
bool pin_to(int cpu) {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
#else
  (void)cpu;
  return false;
#endif
}

#if defined(__linux__)
// Puts the calling thread's affinity back as it was when constructed.
class AffinityRestorer {
 public:
  AffinityRestorer() { saved_ = sched_getaffinity(0, sizeof set_, &set_) == 0; }
  ~AffinityRestorer() {
    if (saved_) sched_setaffinity(0, sizeof set_, &set_);
  }
  AffinityRestorer(const AffinityRestorer&) = delete;
  AffinityRestorer& operator=(const AffinityRestorer&) = delete;

 private:
  cpu_set_t set_{};
  bool saved_ = false;
};
#else
struct AffinityRestorer {};
#endif

}  // namespace

CoreRoundTrip measure_core_round_trip(int round_trips, int batches) {
  if (round_trips < 1 || batches < 1) {
    throw std::invalid_argument("measure_core_round_trip: round_trips = " +
                                std::to_string(round_trips) + " and batches = " +
                                std::to_string(batches) + " must both be >= 1");
  }
  if (std::thread::hardware_concurrency() == 1) {
    throw std::runtime_error("measure_core_round_trip: needs two CPUs, this machine has one");
  }
  std::vector<int> cpus = first_two_cpus();
  if (!cpus.empty() && cpus.size() < 2) {
    throw std::runtime_error("measure_core_round_trip: needs two CPUs, this process may run on "
                             "CPU " + std::to_string(cpus[0]) + " only");
  }
  AffinityRestorer restore;
  const bool pinned = cpus.size() == 2 && pin_to(cpus[0]);

  // The line: odd values are the caller's pings, even values the partner's pongs. The first
  // batch also waits for the partner to start; the median over batches leaves that out.
  struct alignas(64) Line {
    std::atomic<int64_t> value{0};
  };
  Line line;
  std::atomic<bool> partner_pinned{true};
  const int64_t total = int64_t{round_trips} * batches;
  std::thread partner([&] {
    if (pinned && !pin_to(cpus[1])) partner_pinned.store(false);
    for (int64_t i = 0; i < total; ++i) {
      while (line.value.load(std::memory_order_acquire) != 2 * i + 1) detail::cpu_relax();
      line.value.store(2 * i + 2, std::memory_order_release);
    }
  });
  std::vector<double> per_trip_ns;
  per_trip_ns.reserve(static_cast<size_t>(batches));
  int64_t next = 0;
  for (int b = 0; b < batches; ++b) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < round_trips; ++i, ++next) {
      line.value.store(2 * next + 1, std::memory_order_release);
      while (line.value.load(std::memory_order_acquire) != 2 * next + 2) detail::cpu_relax();
    }
    const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
    per_trip_ns.push_back(took.count() / round_trips);
  }
  partner.join();
  std::sort(per_trip_ns.begin(), per_trip_ns.end());
  CoreRoundTrip result;
  result.median_ns = per_trip_ns[per_trip_ns.size() / 2];
  if (pinned && partner_pinned.load()) result.cpus = cpus;
  return result;
}

}  // namespace ubp::kernels
