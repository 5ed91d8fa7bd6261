// pareto_front: the non-dominated points over two or more directed objectives.
#include "ubp/results/pareto.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ubp::results {
namespace {

void require_well_formed(const std::vector<std::vector<double>>& points,
                         const std::vector<Objective>& objectives) {
  if (objectives.size() < 2) {
    throw std::invalid_argument("pareto_front: needs at least 2 objectives, got " +
                                std::to_string(objectives.size()) +
                                " (with one objective there is no trade-off, only a maximum)");
  }
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (points[i].size() == objectives.size()) continue;
    std::string names;
    for (const Objective& objective : objectives) {
      names += (names.empty() ? "" : ", ") + objective.name;
    }
    throw std::invalid_argument("pareto_front: point " + std::to_string(i) + " has " +
                                std::to_string(points[i].size()) + " values, expected " +
                                std::to_string(objectives.size()) + " (one per objective: " +
                                names + ")");
  }
}

// The points as rows of "larger is better" values (minimised objectives negated), so the
// comparisons below need no direction. NaN points are left out here, which is all it takes
// for them to be neither on the frontier nor dominating anything.
struct Oriented {
  std::size_t dimensions = 0;
  std::vector<double> values;         // row-major, one row per kept point
  std::vector<std::size_t> original;  // index in the caller's points of each row

  std::size_t size() const { return original.size(); }
  const double* row(std::size_t r) const { return values.data() + r * dimensions; }
};

Oriented orient(const std::vector<std::vector<double>>& points,
                const std::vector<Objective>& objectives) {
  Oriented oriented;
  oriented.dimensions = objectives.size();
  for (std::size_t i = 0; i < points.size(); ++i) {
    const std::vector<double>& point = points[i];
    if (std::any_of(point.begin(), point.end(), [](double v) { return std::isnan(v); })) continue;
    for (std::size_t k = 0; k < point.size(); ++k) {
      oriented.values.push_back(objectives[k].direction == Direction::kMinimize ? -point[k]
                                                                                : point[k]);
    }
    oriented.original.push_back(i);
  }
  return oriented;
}

bool dominates(const double* a, const double* b, std::size_t dimensions) {
  bool strictly_better_somewhere = false;
  for (std::size_t k = 0; k < dimensions; ++k) {
    if (a[k] < b[k]) return false;
    if (a[k] > b[k]) strictly_better_somewhere = true;
  }
  return strictly_better_somewhere;
}

std::vector<std::size_t> pairwise(const Oriented& oriented) {
  std::vector<std::size_t> front;
  for (std::size_t r = 0; r < oriented.size(); ++r) {
    bool dominated = false;
    for (std::size_t other = 0; other < oriented.size() && !dominated; ++other) {
      dominated = dominates(oriented.row(other), oriented.row(r), oriented.dimensions);
    }
    if (!dominated) front.push_back(oriented.original[r]);
  }
  return front;  // rows keep the caller's order, so this is already ascending
}

// Visits the points from the best first objective down, a group of equal first values at a
// time. A point is dominated exactly when some point with a larger first value is at least as
// good in the second, or some point with the same first value is strictly better in the second;
// the running maximum of the second value over the earlier groups answers the first question,
// the group's own maximum the second.
std::vector<std::size_t> sweep_2d(const Oriented& oriented) {
  std::vector<std::size_t> order(oriented.size());
  for (std::size_t r = 0; r < order.size(); ++r) order[r] = r;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return oriented.row(a)[0] > oriented.row(b)[0];
  });

  std::vector<std::size_t> front;
  // A flag rather than starting the maximum at -infinity: a point whose second value is
  // -infinity is not dominated by a group that does not exist.
  bool seen_better_first = false;
  double best_second_so_far = 0.0;
  for (std::size_t group_begin = 0; group_begin < order.size();) {
    const double first = oriented.row(order[group_begin])[0];
    std::size_t group_end = group_begin;
    double group_best_second = oriented.row(order[group_begin])[1];
    while (group_end < order.size() && oriented.row(order[group_end])[0] == first) {
      group_best_second = std::max(group_best_second, oriented.row(order[group_end])[1]);
      ++group_end;
    }
    for (std::size_t position = group_begin; position < group_end; ++position) {
      const double second = oriented.row(order[position])[1];
      const bool dominated = (seen_better_first && best_second_so_far >= second) ||
                             group_best_second > second;
      if (!dominated) front.push_back(oriented.original[order[position]]);
    }
    best_second_so_far =
        seen_better_first ? std::max(best_second_so_far, group_best_second) : group_best_second;
    seen_better_first = true;
    group_begin = group_end;
  }
  std::sort(front.begin(), front.end());
  return front;
}

}  // namespace

std::vector<std::size_t> pareto_front(const std::vector<std::vector<double>>& points,
                                      const std::vector<Objective>& objectives) {
  require_well_formed(points, objectives);
  const Oriented oriented = orient(points, objectives);
  return objectives.size() == 2 ? sweep_2d(oriented) : pairwise(oriented);
}

namespace detail {

std::vector<std::size_t> pareto_front_pairwise(const std::vector<std::vector<double>>& points,
                                               const std::vector<Objective>& objectives) {
  require_well_formed(points, objectives);
  return pairwise(orient(points, objectives));
}

std::vector<std::size_t> pareto_front_sweep_2d(const std::vector<std::vector<double>>& points,
                                               const std::vector<Objective>& objectives) {
  require_well_formed(points, objectives);
  if (objectives.size() != 2) {
    throw std::invalid_argument("pareto_front_sweep_2d: needs exactly 2 objectives, got " +
                                std::to_string(objectives.size()));
  }
  return sweep_2d(orient(points, objectives));
}

}  // namespace detail
}  // namespace ubp::results
