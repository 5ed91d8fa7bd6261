// How often `optimal` (selectors/optimal.cpp) used its safety net instead of the fast path.
// Exact arithmetic never needs it, so tests assert that these stay zero on integer-valued input
// (where double arithmetic is exact): a fast path that silently fell back would otherwise still
// give optimal answers and hide the bug, just slowly. Defined in optimal.cpp.
#pragma once

#include <atomic>
#include <cstdint>

namespace ubp::algorithms::internal {

struct OptimalFallbacks {
  std::atomic<int64_t> whole_layer{0};  // price search stalled: solve_by_curves
  std::atomic<int64_t> groups{0};       // walk back failed: exact per-group DP
};

OptimalFallbacks& optimal_fallbacks();

}  // namespace ubp::algorithms::internal
