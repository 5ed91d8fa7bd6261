// Summary statistics of timing samples (ubp-devbench, the latency protocol).
#pragma once

#include <cstdint>
#include <vector>

namespace ubp::device {

struct SampleSummary {
  int64_t count = 0;
  double min = 0, max = 0, mean = 0, stddev = 0, cv = 0, p50 = 0, p90 = 0, p99 = 0;
};

// Percentiles by linear interpolation between closest ranks (numpy's default); stddev with n-1
// (0 for one sample); cv = stddev / mean (0 when mean == 0). Throws std::invalid_argument for no
// samples or a sample that is not finite.
SampleSummary summarize(std::vector<double> samples);

// The q-quantile (q in [0, 1]) of ascending `sorted`: position q * (n - 1), interpolated
// linearly between the two neighbouring samples. Throws std::invalid_argument for an empty
// vector or q outside [0, 1].
double percentile_of_sorted(const std::vector<double>& sorted, double q);

}  // namespace ubp::device
