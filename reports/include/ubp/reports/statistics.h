// The statistics the report's tables and claims rest on: means, sample standard deviations,
// medians, Student's t distribution and the t confidence interval of a mean. The t
// distribution is computed here (regularized incomplete beta function, inverted by bisection)
// and checked against printed tables in reports/tests/statistics_test.cpp.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace ubp::reports {

// Arithmetic mean; throws std::invalid_argument for no values.
double mean_of(const std::vector<double>& values);

// Sample standard deviation (n - 1), as papers report the spread over seeds; none for fewer
// than two values.
std::optional<double> stddev_of(const std::vector<double>& values);

// P(T <= t) for Student's t with `degrees_of_freedom` > 0 (not necessarily an integer).
double student_t_cdf(double t, double degrees_of_freedom);

// The t with P(T <= t) = probability, for 0 < probability < 1; e.g. (0.975, 2) = 4.3027, the
// factor of a 95 % two-sided interval from three values. Throws std::invalid_argument outside
// those ranges.
double student_t_quantile(double probability, double degrees_of_freedom);

// The mean of `values` with its two-sided confidence interval
//   mean +- t((1 + confidence) / 2, n - 1) * stddev / sqrt(n).
// With a single value there is no interval (low and high stay empty); with no values, n = 0.
struct MeanInterval {
  size_t n = 0;
  double mean = 0;
  std::optional<double> stddev;
  std::optional<double> low, high;

  bool has_interval() const { return low.has_value() && high.has_value(); }
};
MeanInterval t_interval(const std::vector<double>& values, double confidence = 0.95);

}  // namespace ubp::reports
