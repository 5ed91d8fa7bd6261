#include "ubp/support/statistics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ubp::support {

double median(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("median: no values");
  std::sort(values.begin(), values.end());
  const size_t half = values.size() / 2;
  return values.size() % 2 == 1 ? values[half] : (values[half - 1] + values[half]) / 2.0;
}

double percentile_of_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) throw std::invalid_argument("percentile: no values");
  if (!(q >= 0.0 && q <= 1.0)) throw std::invalid_argument("percentile: q = " + std::to_string(q) + " is outside [0, 1]");
  const double position = q * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double fraction = position - static_cast<double>(below);
  // a + f (b - a): equal neighbours give exactly their value.
  return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

double percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  return percentile_of_sorted(values, q);
}

}  // namespace ubp::support
