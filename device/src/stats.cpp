// Sample statistics for latency measurements.
#include "ubp/device/stats.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ubp::device {

double percentile_of_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) throw std::invalid_argument("percentile_of_sorted: no samples");
  if (!(q >= 0.0 && q <= 1.0)) {
    throw std::invalid_argument("percentile_of_sorted: q = " + std::to_string(q) +
                                " is outside [0, 1]");
  }
  const double position = q * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double fraction = position - static_cast<double>(below);
  // a + f (b - a) rather than (1 - f) a + f b: equal neighbours give exactly that value.
  return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

SampleSummary summarize(std::vector<double> samples) {
  if (samples.empty()) throw std::invalid_argument("summarize: no samples");
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!std::isfinite(samples[i])) {
      throw std::invalid_argument("summarize: sample " + std::to_string(i) + " is not finite");
    }
  }
  std::sort(samples.begin(), samples.end());
  SampleSummary s;
  s.count = static_cast<int64_t>(samples.size());
  s.min = samples.front();
  s.max = samples.back();
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / static_cast<double>(samples.size());
  // Two passes (mean first, then squared deviations): the one-pass sum-of-squares formula
  // cancels catastrophically for samples that are large and nearly equal, i.e. stable timings.
  if (samples.size() > 1) {
    double squares = 0;
    for (double v : samples) squares += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(squares / static_cast<double>(samples.size() - 1));
  }
  s.cv = s.mean == 0.0 ? 0.0 : s.stddev / s.mean;
  s.p50 = percentile_of_sorted(samples, 0.50);
  s.p90 = percentile_of_sorted(samples, 0.90);
  s.p99 = percentile_of_sorted(samples, 0.99);
  return s;
}

}  // namespace ubp::device
