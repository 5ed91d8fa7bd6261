#include "ubp/support/statistics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace ubp::support {
namespace {

TEST(Median, IsTheMiddleOrTheMeanOfTheTwoMiddleValuesInAnyOrder) {
  EXPECT_EQ(median({3.0, 1.0, 2.0}), 2.0);
  EXPECT_EQ(median({4.0, 1.0, 3.0, 2.0}), 2.5);
  EXPECT_EQ(median({7.0}), 7.0);
  EXPECT_THROW(median({}), std::invalid_argument);
}

TEST(Percentile, InterpolatesBetweenTheClosestRanks) {
  const std::vector<double> sorted = {10, 20, 30, 40, 50};
  EXPECT_EQ(percentile_of_sorted(sorted, 0.0), 10.0);
  EXPECT_EQ(percentile_of_sorted(sorted, 1.0), 50.0);
  EXPECT_EQ(percentile_of_sorted(sorted, 0.5), 30.0);
  EXPECT_DOUBLE_EQ(percentile_of_sorted(sorted, 0.9), 46.0);  // rank 3.6: 40 + 0.6 * 10
  EXPECT_DOUBLE_EQ(percentile({50, 10, 40, 30, 20}, 0.9), 46.0);
  EXPECT_EQ(percentile({4, 1, 3, 2}, 0.5), median({4, 1, 3, 2}));
  EXPECT_EQ(percentile_of_sorted({5, 5, 5}, 0.37), 5.0);  // equal neighbours: exactly their value
  EXPECT_THROW(percentile_of_sorted(sorted, 1.5), std::invalid_argument);
  EXPECT_THROW(percentile({}, 0.5), std::invalid_argument);
}

TEST(Percentile, OfFewSamplesFollowsPositionQTimesNMinusOne) {
  const std::vector<double> sorted = {10, 20, 30, 40};
  // 1/3 -> position 1 -> 20; 0.5 -> 1.5 -> 25; 0.9 -> 2.7 -> 37.
  EXPECT_DOUBLE_EQ(percentile_of_sorted(sorted, 1.0 / 3.0), 20);
  EXPECT_DOUBLE_EQ(percentile_of_sorted(sorted, 0.5), 25);
  EXPECT_DOUBLE_EQ(percentile_of_sorted(sorted, 0.9), 37);
  EXPECT_EQ(percentile_of_sorted({7}, 0.99), 7.0);
}

TEST(Percentile, RejectsAQuantileOutsideZeroToOneIncludingNaN) {
  EXPECT_THROW(percentile_of_sorted({1, 2}, -0.01), std::invalid_argument);
  EXPECT_THROW(percentile_of_sorted({1, 2}, 1.01), std::invalid_argument);
  EXPECT_THROW(percentile_of_sorted({1, 2}, std::nan("")), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::support
