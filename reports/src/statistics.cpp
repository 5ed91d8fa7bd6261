#include "ubp/reports/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace ubp::reports {

namespace {

// The continued fraction of the regularized incomplete beta function I_x(a, b), evaluated with
// the modified Lentz method; it converges quickly for x < (a + 1) / (a + b + 2), which the
// caller ensures by the symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr int kMaxTerms = 1000;
  const auto guard = [](double v) { return std::fabs(v) < kTiny ? kTiny : v; };
  double c = 1.0;
  double d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
  double h = d;
  for (int m = 1; m <= kMaxTerms; ++m) {
    const double two_m = 2.0 * m;
    // Even term d_{2m}, then odd term d_{2m+1} of the fraction.
    double term = m * (b - m) * x / ((a + two_m - 1.0) * (a + two_m));
    d = 1.0 / guard(1.0 + term * d);
    c = guard(1.0 + term / c);
    h *= d * c;
    term = -(a + m) * (a + b + m) * x / ((a + two_m) * (a + two_m + 1.0));
    d = 1.0 / guard(1.0 + term * d);
    c = guard(1.0 + term / c);
    const double step = d * c;
    h *= step;
    if (std::fabs(step - 1.0) < 1e-16) break;
  }
  return h;
}

double regularized_incomplete_beta(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) return std::exp(log_front) * beta_continued_fraction(a, b, x) / a;
  return 1.0 - std::exp(log_front) * beta_continued_fraction(b, a, 1.0 - x) / b;
}

// P(T > t) for t >= 0, computed directly rather than as 1 - P(T <= t), so that it keeps its
// relative precision far out in the tail: P(|T| > t) = I_{v / (v + t^2)}(v / 2, 1 / 2), split
// evenly between the two tails.
double upper_tail(double t, double v) { return 0.5 * regularized_incomplete_beta(v / 2.0, 0.5, v / (v + t * t)); }

}  // namespace

double mean_of(const std::vector<double>& values) {
  if (values.empty()) throw std::invalid_argument("mean_of: no values");
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

std::optional<double> stddev_of(const std::vector<double>& values) {
  if (values.size() < 2) return std::nullopt;
  const double mean = mean_of(values);
  double squares = 0;
  for (double v : values) squares += (v - mean) * (v - mean);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

double student_t_cdf(double t, double degrees_of_freedom) {
  if (!(degrees_of_freedom > 0.0)) {
    throw std::invalid_argument("student_t_cdf: degrees of freedom must be > 0, got " +
                                std::to_string(degrees_of_freedom));
  }
  if (std::isnan(t)) return t;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  const double tail = upper_tail(std::fabs(t), degrees_of_freedom);
  return t > 0 ? 1.0 - tail : tail;
}

double student_t_quantile(double probability, double degrees_of_freedom) {
  if (!(probability > 0.0 && probability < 1.0)) {
    throw std::invalid_argument("student_t_quantile: probability must be in (0, 1), got " +
                                std::to_string(probability));
  }
  if (!(degrees_of_freedom > 0.0)) {
    throw std::invalid_argument("student_t_quantile: degrees of freedom must be > 0, got " +
                                std::to_string(degrees_of_freedom));
  }
  if (probability == 0.5) return 0.0;
  if (probability < 0.5) return -student_t_quantile(1.0 - probability, degrees_of_freedom);
  // The upper tail falls strictly: bracket the quantile in [0, high], then halve the bracket
  // until it is as narrow as a double allows. 1 - probability is exact for probability >= 0.5.
  const double tail = 1.0 - probability;
  double low = 0.0, high = 1.0;
  while (upper_tail(high, degrees_of_freedom) > tail) {
    high *= 2.0;
    if (std::isinf(high)) return high;
  }
  for (int i = 0; i < 200 && high - low > 4 * std::numeric_limits<double>::epsilon() * high; ++i) {
    const double middle = 0.5 * (low + high);
    (upper_tail(middle, degrees_of_freedom) > tail ? low : high) = middle;
  }
  return 0.5 * (low + high);
}

MeanInterval t_interval(const std::vector<double>& values, double confidence) {
  if (!(confidence > 0.0 && confidence < 1.0)) {
    throw std::invalid_argument("t_interval: confidence must be in (0, 1), got " + std::to_string(confidence));
  }
  MeanInterval out;
  out.n = values.size();
  if (values.empty()) return out;
  out.mean = mean_of(values);
  out.stddev = stddev_of(values);
  if (out.stddev) {
    const double n = static_cast<double>(values.size());
    const double half_width = student_t_quantile((1.0 + confidence) / 2.0, n - 1.0) * *out.stddev / std::sqrt(n);
    out.low = out.mean - half_width;
    out.high = out.mean + half_width;
  }
  return out;
}

}  // namespace ubp::reports
