// Summary statistics of timing samples (ubp-devbench, the latency protocol).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ubp::device {

struct SampleSummary {
  int64_t count = 0;
  double min = 0, max = 0, mean = 0, stddev = 0, cv = 0, p50 = 0, p90 = 0, p99 = 0;
  // 1.4826 * median(|x - p50|) / p50: the coefficient of variation a normal sample would have,
  // estimated from the median absolute deviation, so a few preempted samples (a VM's vCPU taken
  // away for milliseconds) do not move it the way they move `cv`.
  double robust_cv = 0;
};

// Which spread the latency protocol's validity rule reads: `cv` (stddev / mean, every sample
// counts) or `robust_cv` (MAD-based, judged on the same centre as the reported p50).
enum class Dispersion { kRobust, kClassic };

// "robust" or "classic" (the names configs and command lines use); throws
// std::invalid_argument naming the accepted values for anything else.
Dispersion dispersion_from_name(const std::string& name);
const char* dispersion_name(Dispersion d);
double dispersion_of(const SampleSummary& s, Dispersion d);

// Percentiles by linear interpolation between closest ranks (numpy's default); stddev with n-1
// (0 for one sample); cv = stddev / mean (0 when mean == 0); robust_cv as above (0 when p50 == 0). Throws std::invalid_argument for no
// samples or a sample that is not finite.
SampleSummary summarize(std::vector<double> samples);

}  // namespace ubp::device
