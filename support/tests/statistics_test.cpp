#include "ubp/support/statistics.h"

#include <gtest/gtest.h>

#include <stdexcept>

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

}  // namespace
}  // namespace ubp::support
