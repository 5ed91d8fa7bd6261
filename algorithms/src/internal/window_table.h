// Window scores of the padded grid: the input shared by the exact unaligned selectors
// (`optimal-dp`, `optimal`). Private to algorithms/src; header-only so that the selector .cpp
// files (and white-box tests) can share it without touching the build.
//
// For column group c, the row importance a_c[r] is the sum, in double, over the group's real
// columns (in column order) of importance(r, col); padding rows and columns contribute 0.
// The window starting at row s scores w_c[s] = a_c[s] + ... + a_c[s+bh-1], summed in row order
// (directly, not as a difference of prefix sums, so that a window of small values next to huge
// ones keeps its accuracy). Starts run over [0, Rp - bh], Rp the padded row count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/selector.h"
#include "selection_input.h"

namespace ubp::algorithms::internal {

struct WindowTable {
  int64_t groups = 0;      // column groups
  int64_t rows = 0;        // Rp, padded rows
  int64_t bh = 1;          // block height
  int64_t starts = 0;      // window starts per group: Rp - bh + 1
  int64_t max_blocks = 0;  // disjoint windows that fit one group: Rp / bh
  // starts x groups, start-major: windows[s * groups + c] = w_c[s]. This layout lets the
  // per-row loops of `optimal` run over all groups at once (vectorisable, independent chains).
  std::vector<double> windows;

  double at(int64_t c, int64_t s) const { return windows[static_cast<size_t>(s * groups + c)]; }
  const double* start_row(int64_t s) const { return windows.data() + s * groups; }
};

// Builds the window table. Throws SelectionError on NaN or infinite importance: the exact
// selectors compare and subtract window scores, which is meaningless for them.
inline WindowTable build_window_table(MatrixView imp, const BlockGrid& grid,
                                      const std::string& who) {
  WindowTable t;
  t.groups = grid.col_groups;
  t.rows = grid.padded_rows;
  t.bh = grid.shape.rows;
  t.starts = t.rows - t.bh + 1;
  t.max_blocks = grid.aligned_tiles_per_group;
  const int64_t bw = grid.shape.cols;

  // One padded row at a time: its row sums a_c[r] (all groups) go into a ring of the last bh
  // rows, and once bh rows are in, the window starting bh-1 rows back is summed from the ring
  // in row order. Reads stream along the matrix rows; no transposition is needed.
  t.windows.assign(static_cast<size_t>(t.starts * t.groups), 0.0);
  std::vector<double> ring(static_cast<size_t>(t.bh * t.groups), 0.0);
  bool finite = true;
  for (int64_t r = 0; r < t.rows; ++r) {
    double* a = ring.data() + (r % t.bh) * t.groups;
    std::fill(a, a + t.groups, 0.0);
    if (r < imp.rows) {  // padding rows stay 0
      const float* src = imp.data + r * imp.row_stride;
      for (int64_t c0 = 0, g = 0; c0 < imp.cols; c0 += bw, ++g) {
        const int64_t c1 = std::min(imp.cols, c0 + bw);
        for (int64_t c = c0; c < c1; ++c) a[g] += static_cast<double>(src[c]);
      }
    }
    const int64_t s = r - t.bh + 1;
    if (s < 0) continue;
    double* w = t.windows.data() + s * t.groups;
    for (int64_t k = 0; k < t.bh; ++k) {
      const double* row_k = ring.data() + ((s + k) % t.bh) * t.groups;
      for (int64_t c = 0; c < t.groups; ++c) w[c] += row_k[c];
    }
    for (int64_t c = 0; c < t.groups; ++c) finite &= std::isfinite(w[c]);
  }
  // Every row lies in some window, so a NaN or infinity anywhere shows up in a window.
  if (!finite) throw_non_finite(imp, who);
  return t;
}

}  // namespace ubp::algorithms::internal
