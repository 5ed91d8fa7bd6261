// pareto_front against the definition of dominance written out directly in this file, on random
// point sets drawn from tiny value sets (so equal coordinates and exact duplicates are common),
// and on small hand-made cases with known answers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ubp/results/pareto.h"

namespace ubp::results::testing {
namespace {

using Points = std::vector<std::vector<double>>;
using Indices = std::vector<std::size_t>;
using Objectives = std::vector<Objective>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

const Objective kAccuracy{"top1", Direction::kMaximize};
const Objective kLatency{"p50_ms", Direction::kMinimize};
const Objective kMemory{"peak_mib", Direction::kMinimize};

// --- The reference: the definition, one pair at a time, with the directions spelled out rather
// than folded into a sign as the library does.

bool at_least_as_good(double a, double b, Direction direction) {
  return direction == Direction::kMaximize ? a >= b : a <= b;
}

bool strictly_better(double a, double b, Direction direction) {
  return direction == Direction::kMaximize ? a > b : a < b;
}

bool has_nan(const std::vector<double>& point) {
  for (double value : point) {
    if (std::isnan(value)) return true;
  }
  return false;
}

bool reference_dominates(const std::vector<double>& a, const std::vector<double>& b,
                         const Objectives& objectives) {
  if (has_nan(a) || has_nan(b)) return false;
  bool better_somewhere = false;
  for (std::size_t k = 0; k < objectives.size(); ++k) {
    if (!at_least_as_good(a[k], b[k], objectives[k].direction)) return false;
    if (strictly_better(a[k], b[k], objectives[k].direction)) better_somewhere = true;
  }
  return better_somewhere;
}

Indices reference_front(const Points& points, const Objectives& objectives) {
  Indices front;
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (has_nan(points[i])) continue;
    bool dominated = false;
    for (std::size_t j = 0; j < points.size() && !dominated; ++j) {
      dominated = j != i && reference_dominates(points[j], points[i], objectives);
    }
    if (!dominated) front.push_back(i);
  }
  return front;
}

// --- Helpers.

std::string describe(const Points& points, const Objectives& objectives) {
  std::ostringstream text;
  text << "objectives:";
  for (const Objective& objective : objectives) {
    text << ' ' << (objective.direction == Direction::kMaximize ? "max " : "min ")
         << objective.name;
  }
  text << "\npoints:";
  for (std::size_t i = 0; i < points.size(); ++i) {
    text << "\n  " << i << ":";
    for (double value : points[i]) text << ' ' << value;
  }
  return text.str();
}

// pareto_front, after checking that every algorithm behind it gives the same answer.
Indices front_by_every_path(const Points& points, const Objectives& objectives) {
  const Indices front = pareto_front(points, objectives);
  EXPECT_EQ(detail::pareto_front_pairwise(points, objectives), front)
      << describe(points, objectives);
  if (objectives.size() == 2) {
    EXPECT_EQ(detail::pareto_front_sweep_2d(points, objectives), front)
        << describe(points, objectives);
  }
  return front;
}

// Objective k is minimised when bit k of `minimize_mask` is set, so counting the mask through
// 0 .. 2^count - 1 visits every mix of directions.
Objectives objectives_for(std::size_t count, unsigned minimize_mask) {
  Objectives objectives;
  for (std::size_t k = 0; k < count; ++k) {
    const bool minimize = ((minimize_mask >> k) & 1u) != 0;
    objectives.push_back(Objective{"objective" + std::to_string(k),
                                   minimize ? Direction::kMinimize : Direction::kMaximize});
  }
  return objectives;
}

// Each coordinate drawn from `pool` (or NaN with the given probability).
Points random_points(std::mt19937& random, std::size_t count, std::size_t dimensions,
                     const std::vector<double>& pool, double nan_probability = 0.0) {
  std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1);
  std::bernoulli_distribution is_nan(nan_probability);
  Points points(count, std::vector<double>(dimensions));
  for (std::vector<double>& point : points) {
    for (double& value : point) value = is_nan(random) ? kNaN : pool[pick(random)];
  }
  return points;
}

std::vector<double> many_distinct_values() {
  std::vector<double> values;
  for (int i = 0; i < 1000; ++i) values.push_back(0.001 * i - 0.3);
  return values;
}

// The value sets the random tests draw from: a tiny one where most points tie somewhere, one
// with signed zeros and infinities, and a wide one where ties are rare and fronts are long.
const std::vector<std::vector<double>>& value_pools() {
  static const std::vector<std::vector<double>> pools = {
      {0.0, 1.0, 2.0},
      {-kInf, -1.0, -0.0, 0.0, 0.5, kInf},
      {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7},
      many_distinct_values(),
  };
  return pools;
}

const std::vector<std::size_t> kSizes = {0, 1, 2, 3, 4, 7, 16, 50, 200};

bool has_duplicate_on(const Indices& front, const Points& points) {
  for (std::size_t a = 0; a < front.size(); ++a) {
    for (std::size_t b = a + 1; b < front.size(); ++b) {
      if (points[front[a]] == points[front[b]]) return true;
    }
  }
  return false;
}

std::string invalid_argument_message(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "(no std::invalid_argument was thrown)";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// --- Random point sets against the reference.

TEST(ParetoFront, MatchesTheDefinitionOnRandomPointsWithManyTies) {
  std::mt19937 random(20240607);
  // Counted so the test fails if the draws stop producing the cases it is meant to exercise.
  int cases = 0, fronts_that_drop_points = 0, fronts_with_duplicates = 0;
  for (const std::vector<double>& pool : value_pools()) {
    for (std::size_t dimensions = 2; dimensions <= 4; ++dimensions) {
      for (unsigned mask = 0; mask < (1u << dimensions); ++mask) {
        const Objectives objectives = objectives_for(dimensions, mask);
        for (std::size_t size : kSizes) {
          for (int repeat = 0; repeat < 3; ++repeat) {
            const Points points = random_points(random, size, dimensions, pool);
            const Indices expected = reference_front(points, objectives);
            ASSERT_EQ(front_by_every_path(points, objectives), expected)
                << describe(points, objectives);
            ++cases;
            if (expected.size() < points.size()) ++fronts_that_drop_points;
            if (has_duplicate_on(expected, points)) ++fronts_with_duplicates;
          }
        }
      }
    }
  }
  EXPECT_GT(cases, 3000);
  EXPECT_GT(fronts_that_drop_points, cases / 2);
  EXPECT_GT(fronts_with_duplicates, cases / 10);
}

TEST(ParetoFront, MatchesTheDefinitionWhenSomeValuesAreNaN) {
  std::mt19937 random(7);
  int nan_points = 0;
  for (const std::vector<double>& pool : value_pools()) {
    for (std::size_t dimensions = 2; dimensions <= 4; ++dimensions) {
      for (unsigned mask = 0; mask < (1u << dimensions); ++mask) {
        const Objectives objectives = objectives_for(dimensions, mask);
        for (std::size_t size : kSizes) {
          const Points points = random_points(random, size, dimensions, pool, 0.15);
          const Indices front = front_by_every_path(points, objectives);
          ASSERT_EQ(front, reference_front(points, objectives)) << describe(points, objectives);
          for (std::size_t index : front) {
            ASSERT_FALSE(has_nan(points[index])) << describe(points, objectives);
          }
          for (const std::vector<double>& point : points) nan_points += has_nan(point) ? 1 : 0;
        }
      }
    }
  }
  EXPECT_GT(nan_points, 1000);
}

TEST(ParetoFront, TwoObjectiveSweepAgreesWithThePairwiseCheckOnLargeSets) {
  std::mt19937 random(99);
  for (const std::vector<double>& pool : value_pools()) {
    for (unsigned mask = 0; mask < 4; ++mask) {
      const Objectives objectives = objectives_for(2, mask);
      for (std::size_t size : {500u, 2000u}) {
        for (double nan_probability : {0.0, 0.05}) {
          const Points points = random_points(random, size, 2, pool, nan_probability);
          const Indices sweep = detail::pareto_front_sweep_2d(points, objectives);
          ASSERT_EQ(sweep, detail::pareto_front_pairwise(points, objectives))
              << "pool of " << pool.size() << " values, " << size << " points";
          ASSERT_EQ(pareto_front(points, objectives), sweep);
        }
      }
    }
  }
}

// --- Hand-made cases: accuracy maximised, latency (and memory) minimised.

TEST(ParetoFront, DropsAPointWithEqualLatencyAndLowerAccuracy) {
  EXPECT_EQ(front_by_every_path({{0.70, 5.0}, {0.75, 5.0}}, {kAccuracy, kLatency}),
            (Indices{1}));
}

TEST(ParetoFront, DropsAPointWithEqualAccuracyAndHigherLatency) {
  EXPECT_EQ(front_by_every_path({{0.75, 6.0}, {0.75, 5.0}}, {kAccuracy, kLatency}),
            (Indices{1}));
}

TEST(ParetoFront, DropsAPointWorseInBothObjectives) {
  EXPECT_EQ(front_by_every_path({{0.80, 4.0}, {0.70, 9.0}, {0.90, 8.0}}, {kAccuracy, kLatency}),
            (Indices{0, 2}));
}

TEST(ParetoFront, KeepsEveryPointOfATradeOff) {
  EXPECT_EQ(front_by_every_path({{0.80, 9.0}, {0.70, 3.0}, {0.75, 5.0}}, {kAccuracy, kLatency}),
            (Indices{0, 1, 2}));
}

TEST(ParetoFront, KeepsEveryCopyOfANonDominatedPoint) {
  EXPECT_EQ(front_by_every_path({{0.8, 5.0}, {0.7, 6.0}, {0.8, 5.0}}, {kAccuracy, kLatency}),
            (Indices{0, 2}));
}

TEST(ParetoFront, DropsEveryCopyOfADominatedPoint) {
  EXPECT_EQ(front_by_every_path({{0.7, 6.0}, {0.8, 5.0}, {0.7, 6.0}}, {kAccuracy, kLatency}),
            (Indices{1}));
}

TEST(ParetoFront, KeepsAllPointsWhenTheyAreAllIdentical) {
  EXPECT_EQ(front_by_every_path(Points(4, {0.5, 2.0}), {kAccuracy, kLatency}),
            (Indices{0, 1, 2, 3}));
}

TEST(ParetoFront, FollowsTheDirectionOfEachObjective) {
  const Points corners = {{1, 1}, {2, 2}, {1, 2}, {2, 1}};
  const Objective max_x{"x", Direction::kMaximize}, min_x{"x", Direction::kMinimize};
  const Objective max_y{"y", Direction::kMaximize}, min_y{"y", Direction::kMinimize};
  EXPECT_EQ(front_by_every_path(corners, {max_x, max_y}), (Indices{1}));
  EXPECT_EQ(front_by_every_path(corners, {min_x, min_y}), (Indices{0}));
  EXPECT_EQ(front_by_every_path(corners, {max_x, min_y}), (Indices{3}));
  EXPECT_EQ(front_by_every_path(corners, {min_x, max_y}), (Indices{2}));
}

TEST(ParetoFront, WeighsEveryObjectiveWhenThereAreThree) {
  const Points points = {
      {0.80, 5.0, 100.0},  // kept
      {0.80, 5.0, 120.0},  // dominated by 0: same accuracy and latency, more memory
      {0.90, 6.0, 200.0},  // kept: most accurate
      {0.70, 4.0, 100.0},  // kept: fastest
      {0.70, 6.0, 90.0},   // kept: smallest
      {0.70, 6.0, 100.0},  // dominated by 4
  };
  EXPECT_EQ(front_by_every_path(points, {kAccuracy, kLatency, kMemory}), (Indices{0, 2, 3, 4}));
}

TEST(ParetoFront, TreatsMinusZeroAsEqualToZero) {
  EXPECT_EQ(front_by_every_path({{0.0, 1.0}, {-0.0, 1.0}}, {kAccuracy, kLatency}),
            (Indices{0, 1}));
  EXPECT_EQ(front_by_every_path({{-0.0, 2.0}, {0.0, 1.0}}, {kAccuracy, kLatency}),
            (Indices{1}));
}

TEST(ParetoFront, TreatsInfinitiesAsOrdinaryValues) {
  const Objectives maximize_both = objectives_for(2, 0);
  EXPECT_EQ(front_by_every_path({{0.0, -kInf}, {1.0, -kInf}}, maximize_both), (Indices{1}));
  EXPECT_EQ(front_by_every_path({{1.0, -kInf}}, maximize_both), (Indices{0}));
  EXPECT_EQ(front_by_every_path({{1.0, -kInf}, {1.0, -kInf}}, maximize_both), (Indices{0, 1}));
  EXPECT_EQ(front_by_every_path({{kInf, 0.0}, {0.0, kInf}, {1.0, 1.0}}, maximize_both),
            (Indices{0, 1, 2}));
  EXPECT_EQ(front_by_every_path({{0.9, kInf}, {0.5, 3.0}}, {kAccuracy, kLatency}),
            (Indices{0, 1}));
}

TEST(ParetoFront, LeavesOutPointsWithNaNAndLetsThemHideNothing) {
  // Point 0 has the best latency and point 2 the best accuracy, but each has a NaN, so neither
  // may hide point 1; point 3 is still dominated by point 1.
  const Points points = {{kNaN, 1.0}, {0.70, 5.0}, {0.95, kNaN}, {0.60, 6.0}};
  EXPECT_EQ(front_by_every_path(points, {kAccuracy, kLatency}), (Indices{1}));
  EXPECT_EQ(
      front_by_every_path({{kNaN, 1.0, 1.0}, {0.5, 2.0, 2.0}}, {kAccuracy, kLatency, kMemory}),
      (Indices{1}));
}

TEST(ParetoFront, IsEmptyWhenEveryPointHasNaN) {
  EXPECT_EQ(front_by_every_path({{kNaN, 1.0}, {0.5, kNaN}}, {kAccuracy, kLatency}), Indices{});
}

TEST(ParetoFront, IsEmptyForNoPoints) {
  EXPECT_EQ(front_by_every_path({}, {kAccuracy, kLatency}), Indices{});
  EXPECT_EQ(front_by_every_path({}, {kAccuracy, kLatency, kMemory}), Indices{});
}

// --- Errors.

TEST(ParetoFront, RejectsFewerThanTwoObjectives) {
  for (const Objectives& objectives : {Objectives{}, Objectives{kAccuracy}}) {
    for (const Points& points : {Points{}, Points(2, std::vector<double>(objectives.size()))}) {
      const std::string message =
          invalid_argument_message([&] { pareto_front(points, objectives); });
      EXPECT_TRUE(contains(message, "at least 2 objectives")) << message;
      EXPECT_TRUE(contains(message, "got " + std::to_string(objectives.size()))) << message;
    }
  }
}

TEST(ParetoFront, RejectsAPointWithTheWrongNumberOfValuesNamingIt) {
  const Points points = {{0.7, 5.0}, {0.8, 6.0}, {0.9, 7.0, 8.0}, {0.6}};
  for (const auto& algorithm : {&pareto_front, &detail::pareto_front_pairwise,
                                &detail::pareto_front_sweep_2d}) {
    const std::string message =
        invalid_argument_message([&] { algorithm(points, {kAccuracy, kLatency}); });
    EXPECT_TRUE(contains(message, "point 2 has 3 values, expected 2")) << message;
    EXPECT_TRUE(contains(message, "top1, p50_ms")) << message;
  }
  const std::string short_point_message = invalid_argument_message(
      [&] { pareto_front({{0.6, 1.0, 2.0}, {0.5}}, {kAccuracy, kLatency, kMemory}); });
  EXPECT_TRUE(contains(short_point_message, "point 1 has 1 values, expected 3"))
      << short_point_message;
}

TEST(ParetoFront, SweepRejectsMoreThanTwoObjectives) {
  const std::string message = invalid_argument_message([&] {
    detail::pareto_front_sweep_2d({{0.5, 1.0, 2.0}}, {kAccuracy, kLatency, kMemory});
  });
  EXPECT_TRUE(contains(message, "exactly 2 objectives, got 3")) << message;
}

}  // namespace
}  // namespace ubp::results::testing
