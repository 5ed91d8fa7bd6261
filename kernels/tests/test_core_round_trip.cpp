// measure_core_round_trip: the cache-line round trip between two pinned threads.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "ubp/kernels/core_round_trip.h"

#if defined(__linux__)
#include <sched.h>
#endif

namespace ubp::kernels {
namespace {

TEST(CoreRoundTrip, RejectsCountsBelowOne) {
  EXPECT_THROW(measure_core_round_trip(0, 3), std::invalid_argument);
  EXPECT_THROW(measure_core_round_trip(10, 0), std::invalid_argument);
  EXPECT_THROW(measure_core_round_trip(-1, -1), std::invalid_argument);
}

#if defined(__linux__)
cpu_set_t calling_thread_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  return set;
}

int first_cpu(const cpu_set_t& set) {
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) return c;
  }
  return -1;
}

TEST(CoreRoundTrip, PinsTwoDistinctCpusAndRestoresTheCallersAffinity) {
  const cpu_set_t before = calling_thread_cpus();
  ASSERT_GE(CPU_COUNT(&before), 2) << "this test needs a process allowed on two CPUs";
  const CoreRoundTrip trip = measure_core_round_trip(500, 3);
  EXPECT_TRUE(std::isfinite(trip.median_ns));
  EXPECT_GT(trip.median_ns, 0.0);
  ASSERT_EQ(trip.cpus.size(), 2u);
  EXPECT_NE(trip.cpus[0], trip.cpus[1]);
  EXPECT_TRUE(CPU_ISSET(trip.cpus[0], &before));
  EXPECT_TRUE(CPU_ISSET(trip.cpus[1], &before));
  const cpu_set_t after = calling_thread_cpus();
  EXPECT_TRUE(CPU_EQUAL(&before, &after)) << "the caller's CPU affinity was not restored";
}

TEST(CoreRoundTrip, RefusesACallerAllowedOnOneCpuNamingIt) {
  const cpu_set_t before = calling_thread_cpus();
  const int cpu = first_cpu(before);
  ASSERT_GE(cpu, 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  std::string message;
  try {
    measure_core_round_trip(10, 1);
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof before, &before), 0);
  EXPECT_NE(message.find("CPU " + std::to_string(cpu) + " only"), std::string::npos) << message;
}
#endif

}  // namespace
}  // namespace ubp::kernels
