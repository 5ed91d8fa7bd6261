// Sample statistics against values worked out by hand from the definitions (numpy's default
// "linear" percentile, sample standard deviation with n - 1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "ubp/device/stats.h"

namespace ubp::device {
namespace {

TEST(Stats, SummaryOfKnownSamples) {
  // Unsorted on purpose: summarize sorts its copy.
  const SampleSummary s = summarize({4, 1, 3, 2, 5});
  EXPECT_EQ(s.count, 5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  // Squared deviations 4 + 1 + 0 + 1 + 4 = 10, over n - 1 = 4.
  EXPECT_DOUBLE_EQ(s.stddev, std::sqrt(2.5));
  EXPECT_DOUBLE_EQ(s.cv, std::sqrt(2.5) / 3);
  EXPECT_DOUBLE_EQ(s.p50, 3);
  EXPECT_DOUBLE_EQ(s.p90, 4.6);   // position 3.6
  EXPECT_DOUBLE_EQ(s.p99, 4.96);  // position 3.96
  // Deviations from the median 3: 1 2 0 1 2 -> sorted 0 1 1 2 2, median 1.
  EXPECT_DOUBLE_EQ(s.robust_cv, 1.4826 * 1 / 3);
}

TEST(Stats, RobustCvIgnoresAFewPreemptedSamples) {
  // 20 samples within 1% of 1 ms, then two samples of a vCPU taken away for 5 ms: the classic
  // coefficient of variation explodes, the MAD-based one stays that of the steady samples.
  std::vector<double> samples;
  for (int i = 0; i < 20; ++i) samples.push_back(1.0 + 0.001 * (i % 5 - 2));
  const SampleSummary steady = summarize(samples);
  samples.push_back(6.0);
  samples.push_back(6.0);
  const SampleSummary preempted = summarize(samples);
  EXPECT_GT(preempted.cv, 0.5);
  EXPECT_LT(preempted.robust_cv, 0.01);
  EXPECT_NEAR(preempted.robust_cv, steady.robust_cv, 0.002);
}

TEST(Stats, RobustCvSeesASessionThatIsSlowHalfTheTime) {
  // A bimodal session (half the samples twice as slow) is unstable, and the robust spread says so.
  std::vector<double> samples;
  for (int i = 0; i < 10; ++i) samples.push_back(1.0);
  for (int i = 0; i < 10; ++i) samples.push_back(2.0);
  EXPECT_GT(summarize(samples).robust_cv, 0.3);
}

TEST(Stats, DispersionNamesRoundTripAndUnknownNamesAreRefused) {
  EXPECT_EQ(dispersion_from_name("robust"), Dispersion::kRobust);
  EXPECT_EQ(dispersion_from_name("classic"), Dispersion::kClassic);
  EXPECT_STREQ(dispersion_name(Dispersion::kRobust), "robust");
  EXPECT_STREQ(dispersion_name(Dispersion::kClassic), "classic");
  try {
    dispersion_from_name("mad");
    FAIL() << "an unknown dispersion was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'mad'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("accepted: robust"), std::string::npos) << e.what();
  }
  SampleSummary s;
  s.cv = 0.5;
  s.robust_cv = 0.01;
  EXPECT_EQ(dispersion_of(s, Dispersion::kClassic), 0.5);
  EXPECT_EQ(dispersion_of(s, Dispersion::kRobust), 0.01);
}

TEST(Stats, OneSampleHasNoSpread) {
  const SampleSummary s = summarize({12.5});
  EXPECT_EQ(s.count, 1);
  EXPECT_EQ(s.stddev, 0);
  EXPECT_EQ(s.cv, 0);
  EXPECT_EQ(s.p50, 12.5);
  EXPECT_EQ(s.p99, 12.5);
}

TEST(Stats, ZeroMeanGivesZeroCv) {
  const SampleSummary s = summarize({-1, 1});
  EXPECT_EQ(s.mean, 0);
  EXPECT_EQ(s.cv, 0);
  EXPECT_DOUBLE_EQ(s.stddev, std::sqrt(2.0));
}

TEST(Stats, RejectsNoSamplesAndNonFinite) {
  EXPECT_THROW(summarize({}), std::invalid_argument);
  EXPECT_THROW(summarize({1, std::nan("")}), std::invalid_argument);
  EXPECT_THROW(summarize({1, INFINITY}), std::invalid_argument);
}

// Large, nearly equal values (stable timings in ns): a one-pass sum-of-squares formula loses
// every digit here; the two-pass one keeps the exact answer.
TEST(Stats, StddevStableForLargeNearlyEqualSamples) {
  const double base = 1e9;
  const SampleSummary s = summarize({base + 1, base + 2, base + 3});
  EXPECT_DOUBLE_EQ(s.mean, base + 2);
  EXPECT_NEAR(s.stddev, 1.0, 1e-6);
}

// Random samples against a direct scalar evaluation of the definitions.
TEST(Stats, RandomSamplesMatchDefinitions) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> timing(1.0, 0.3);
  for (int n : {2, 3, 10, 101, 1000}) {
    std::vector<double> v(static_cast<size_t>(n));
    for (auto& x : v) x = timing(rng);
    const SampleSummary s = summarize(v);
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    long double sum = 0;
    for (double x : v) sum += x;
    const double mean = static_cast<double>(sum / n);
    long double squares = 0;
    for (double x : v) squares += (x - mean) * (x - mean);
    const double stddev = std::sqrt(static_cast<double>(squares / (n - 1)));
    EXPECT_NEAR(s.mean, mean, 1e-12 * mean) << n;
    EXPECT_NEAR(s.stddev, stddev, 1e-9 * stddev) << n;
    for (double q : {0.5, 0.9, 0.99}) {
      const double pos = q * (n - 1);
      const auto lo = static_cast<size_t>(pos);
      const auto hi = std::min(lo + 1, sorted.size() - 1);
      const double expected = sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
      const double actual = q == 0.5 ? s.p50 : q == 0.9 ? s.p90 : s.p99;
      EXPECT_NEAR(actual, expected, 1e-12 * expected) << n << " q " << q;
    }
    EXPECT_LE(s.min, s.p50);
    EXPECT_LE(s.p50, s.p90);
    EXPECT_LE(s.p90, s.p99);
    EXPECT_LE(s.p99, s.max);
  }
}

}  // namespace
}  // namespace ubp::device
