// Student's t written in reports/src/statistics.cpp, checked against printed table values and
// the closed forms for 1 and 2 degrees of freedom; the t-interval against a hand computation.
#include "ubp/reports/statistics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace ubp::reports {
namespace {

TEST(StudentT, QuantilesMatchPrintedTables) {
  // Two-sided 95 % (upper 0.975) and 99 % (upper 0.995) critical values, as printed in the
  // standard tables (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2), to their 3 decimals.
  struct Row {
    double df, t975, t995;
  };
  const Row rows[] = {{1, 12.706, 63.657}, {2, 4.303, 9.925}, {3, 3.182, 5.841}, {4, 2.776, 4.604},
                      {5, 2.571, 4.032},   {9, 2.262, 3.250}, {10, 2.228, 3.169}, {20, 2.086, 2.845},
                      {30, 2.042, 2.750},  {100, 1.984, 2.626}};
  for (const Row& row : rows) {
    EXPECT_NEAR(student_t_quantile(0.975, row.df), row.t975, 0.0005) << "df " << row.df;
    EXPECT_NEAR(student_t_quantile(0.995, row.df), row.t995, 0.0005) << "df " << row.df;
  }
  // Many degrees of freedom: the normal quantile 1.959964.
  EXPECT_NEAR(student_t_quantile(0.975, 1e7), 1.959964, 1e-6);
}

TEST(StudentT, QuantilesMatchTheClosedFormsForOneAndTwoDegreesOfFreedom) {
  const double pi = std::acos(-1.0);
  for (double p : {0.6, 0.9, 0.975, 0.995, 0.9995}) {
    // df = 1 is the Cauchy distribution: t = tan(pi (p - 1/2)).
    EXPECT_NEAR(student_t_quantile(p, 1), std::tan(pi * (p - 0.5)), 1e-9 * std::tan(pi * (p - 0.5))) << p;
    // df = 2: t = (2p - 1) / sqrt(2 p (1 - p)).
    const double two = (2 * p - 1) / std::sqrt(2 * p * (1 - p));
    EXPECT_NEAR(student_t_quantile(p, 2), two, 1e-9 * two) << p;
  }
}

TEST(StudentT, CdfIsSymmetricAndInvertsTheQuantile) {
  EXPECT_DOUBLE_EQ(student_t_cdf(0, 3), 0.5);
  for (double df : {1.0, 2.5, 7.0, 40.0}) {
    for (double t : {0.1, 1.0, 2.5, 4.0}) {
      EXPECT_NEAR(student_t_cdf(t, df) + student_t_cdf(-t, df), 1.0, 1e-14);
      EXPECT_NEAR(student_t_quantile(student_t_cdf(t, df), df), t, 1e-9 * t) << "df " << df << " t " << t;
    }
  }
  EXPECT_NEAR(student_t_quantile(0.025, 4), -student_t_quantile(0.975, 4), 1e-12);
}

TEST(StudentT, RefusesProbabilitiesAndDegreesOfFreedomOutOfRange) {
  EXPECT_THROW(student_t_quantile(0.0, 3), std::invalid_argument);
  EXPECT_THROW(student_t_quantile(1.0, 3), std::invalid_argument);
  EXPECT_THROW(student_t_quantile(0.9, 0), std::invalid_argument);
  EXPECT_THROW(student_t_cdf(1.0, -1), std::invalid_argument);
}

TEST(TInterval, IsTheMeanPlusMinusTTimesTheStandardError) {
  // Differences 0.5, 1.0, 1.5: mean 1, sample sd 0.5, standard error 0.5 / sqrt(3); the 95 %
  // factor at 2 degrees of freedom is 4.302653 (closed form above).
  const MeanInterval ci = t_interval({0.5, 1.0, 1.5});
  ASSERT_TRUE(ci.has_interval());
  EXPECT_EQ(ci.n, 3u);
  EXPECT_DOUBLE_EQ(ci.mean, 1.0);
  EXPECT_NEAR(*ci.stddev, 0.5, 1e-15);
  const double half = 0.95 / std::sqrt(2 * 0.975 * 0.025) * 0.5 / std::sqrt(3.0);
  EXPECT_NEAR(half, 1.242069, 1e-6);
  EXPECT_NEAR(*ci.low, 1.0 - half, 1e-12);
  EXPECT_NEAR(*ci.high, 1.0 + half, 1e-12);

  const MeanInterval one = t_interval({2.5});
  EXPECT_EQ(one.n, 1u);
  EXPECT_DOUBLE_EQ(one.mean, 2.5);
  EXPECT_FALSE(one.has_interval()) << "a single value has no spread, so no interval";
  EXPECT_EQ(t_interval({}).n, 0u);
}

}  // namespace
}  // namespace ubp::reports
