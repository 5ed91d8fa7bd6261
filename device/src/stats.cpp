// Sample statistics for latency measurements.
#include "ubp/device/stats.h"

#include "ubp/support/statistics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ubp::device {

using support::percentile_of_sorted;

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
  std::vector<double> deviations;
  deviations.reserve(samples.size());
  for (double v : samples) deviations.push_back(std::abs(v - s.p50));
  std::sort(deviations.begin(), deviations.end());
  // 1.4826 = 1 / Phi^-1(3/4): scales the MAD of a normal sample to its standard deviation.
  s.robust_cv = s.p50 == 0.0 ? 0.0 : 1.4826 * percentile_of_sorted(deviations, 0.50) / s.p50;
  return s;
}

Dispersion dispersion_from_name(const std::string& name) {
  if (name == "robust") return Dispersion::kRobust;
  if (name == "classic") return Dispersion::kClassic;
  throw std::invalid_argument("dispersion '" + name +
                              "' is not known (accepted: robust = 1.4826 MAD / median, classic = stddev / mean)");
}

const char* dispersion_name(Dispersion d) { return d == Dispersion::kRobust ? "robust" : "classic"; }

double dispersion_of(const SampleSummary& s, Dispersion d) {
  return d == Dispersion::kRobust ? s.robust_cv : s.cv;
}

}  // namespace ubp::device
