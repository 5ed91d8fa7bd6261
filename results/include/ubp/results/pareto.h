// The Pareto frontier: the points no other point beats, over two or more objectives that each
// have their own direction (maximise accuracy, minimise latency).
//
// Plain C++ with no dependency beyond the standard library, so the reports can use it on any
// table of numbers they have read from a results database.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ubp::results {

enum class Direction { kMaximize, kMinimize };

struct Objective {
  std::string name;  // used only in error messages
  Direction direction = Direction::kMaximize;
};

// The indices of the non-dominated points, ascending. `points[i][k]` is point i's value of
// objective k.
//
// A point dominates another when it is at least as good in every objective and strictly better
// in at least one. Identical points therefore do not dominate each other: every copy of a
// non-dominated point is kept, and every copy of a dominated one is dropped. Values compare as
// doubles, so 0.0 and -0.0 are equal and infinities are ordinary (extreme) values.
//
// A point with a NaN in any objective is a failed or missing measurement: it is never on the
// frontier and never dominates another point, so it neither appears nor hides anything.
//
// Throws std::invalid_argument for fewer than two objectives (one objective has no trade-off:
// that is a maximum, not a frontier) or for a point whose number of values differs from the
// number of objectives; the message names the point's index and the expected count.
//
// Two objectives take O(n log n) (sort by the first, sweep the second); more take O(n^2 k).
std::vector<std::size_t> pareto_front(const std::vector<std::vector<double>>& points,
                                      const std::vector<Objective>& objectives);

namespace detail {

// The two algorithms behind pareto_front, exposed so the tests can check one against the other.
// Both validate their arguments as pareto_front does; the sweep also requires exactly two
// objectives.
std::vector<std::size_t> pareto_front_pairwise(const std::vector<std::vector<double>>& points,
                                               const std::vector<Objective>& objectives);
std::vector<std::size_t> pareto_front_sweep_2d(const std::vector<std::vector<double>>& points,
                                               const std::vector<Objective>& objectives);

}  // namespace detail
}  // namespace ubp::results
