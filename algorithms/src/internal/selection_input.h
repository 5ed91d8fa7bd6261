// Input checks shared by every unaligned selector (exact and heuristic): the budget range and
// the message that names a non-finite importance cell. Private to algorithms/src.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms::internal {

// The unaligned budget range is the aligned one: every selector can return exactly m blocks
// for m in [0, col_groups * Rp / bh] (the aligned tiling of a group is its densest packing).
inline void check_unaligned_budget(const BlockGrid& grid, int64_t budget, const std::string& who) {
  const int64_t max_blocks = grid.col_groups * grid.aligned_tiles_per_group;
  if (budget < 0 || budget > max_blocks) {
    throw SelectionError(who + ": budget " + std::to_string(budget) + " outside [0, " +
                         std::to_string(max_blocks) + "] blocks (" +
                         std::to_string(grid.col_groups) + " column groups x " +
                         std::to_string(grid.aligned_tiles_per_group) + " blocks of " +
                         to_string(grid.shape) + " per group)");
  }
}

// Cold path of build_window_table: names the first NaN or infinite cell.
[[noreturn]] inline void throw_non_finite(MatrixView imp, const std::string& who) {
  for (int64_t r = 0; r < imp.rows; ++r) {
    for (int64_t c = 0; c < imp.cols; ++c) {
      const float v = imp(r, c);
      if (std::isnan(v)) {
        throw SelectionError(who + ": importance contains NaN at (" + std::to_string(r) + ", " +
                             std::to_string(c) + ")");
      }
      if (std::isinf(v)) {
        throw SelectionError(who + ": importance must be finite, got " +
                             std::string(v > 0 ? "+inf" : "-inf") + " at (" +
                             std::to_string(r) + ", " + std::to_string(c) + ")");
      }
    }
  }
  // Finite floats whose double sums overflow cannot happen (|float| < 3.5e38, far below the
  // double range), so a non-finite window always comes from a non-finite cell.
  throw SelectionError(who + ": importance sums are not finite");
}

}  // namespace ubp::algorithms::internal
