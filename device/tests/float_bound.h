// The error bound the device tests hold float results to, shared by the operator and engine
// tests.
//
// A float sum of n products may differ from the exact value by at most about n * FLT_EPSILON
// times the sum of the absolute values of its terms (the standard bound; the kernels' order of
// accumulation differs from the references'). We allow max(1e-5, (n + 2) * FLT_EPSILON) times
// that magnitude per element: 1e-5 relative for short sums, the rigorous bound for long ones.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace ubp::device::testing {

// A reference result computed in double and, per element, the sum of |terms| and the term
// count that bound the float error.
struct Expected {
  std::vector<double> value;
  std::vector<double> magnitude;
  int64_t terms = 0;
};

// Fails the test (naming `what` and the first element out of bounds) unless every element of
// `actual` is within the bound above.
inline void expect_within_float_bound(const std::vector<float>& actual, const Expected& expected,
                                      const std::string& what) {
  ASSERT_EQ(actual.size(), expected.value.size()) << what;
  const double relative =
      std::max(1e-5, static_cast<double>(expected.terms + 2) * static_cast<double>(FLT_EPSILON));
  for (size_t i = 0; i < actual.size(); ++i) {
    const double bound = relative * expected.magnitude[i] + 1e-30;
    if (!(std::abs(actual[i] - expected.value[i]) <= bound)) {
      FAIL() << what << ": element " << i << " is " << actual[i] << ", expected "
             << expected.value[i] << " within " << bound;
    }
  }
}

}  // namespace ubp::device::testing
