// Independent references for testing the unaligned selectors. Nothing here shares code with
// algorithms/src: window scores are summed cell by cell from the matrix, the optimum is found by
// enumerating every set of windows, and the per-column curve F(k) uses a different recurrence
// (over the first row, memoised) than the selectors' DP (over the last row).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"

namespace ubp::algorithms::reference {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Padded rows Rp and column groups of a matrix for a block shape (blocks.h's rule).
inline int64_t padded_rows(const Matrix& imp, BlockShape shape) {
  return ceil_div(imp.rows, shape.rows) * shape.rows;
}
inline int64_t column_groups(const Matrix& imp, BlockShape shape) {
  return ceil_div(imp.cols, shape.cols);
}

// Importance of the real cells of the window of column group c starting at row s.
inline double window_score(const Matrix& imp, BlockShape shape, int64_t c, int64_t s) {
  double sum = 0;
  for (int64_t r = s; r < s + shape.rows && r < imp.rows; ++r) {
    for (int64_t col = c * shape.cols; col < (c + 1) * shape.cols && col < imp.cols; ++col) {
      sum += imp(r, col);
    }
  }
  return sum;
}

// Every window of the padded grid, in (col_group, start_row) order.
struct Window {
  Block block;
  double score = 0;
};
inline std::vector<Window> all_windows(const Matrix& imp, BlockShape shape) {
  std::vector<Window> out;
  const int64_t rp = padded_rows(imp, shape);
  for (int64_t c = 0; c < column_groups(imp, shape); ++c) {
    for (int64_t s = 0; s + shape.rows <= rp; ++s) {
      out.push_back(Window{Block{c, s}, window_score(imp, shape, c, s)});
    }
  }
  return out;
}

// Number of windows brute_force_best would enumerate subsets of.
inline int64_t window_count(const Matrix& imp, BlockShape shape) {
  return column_groups(imp, shape) * (padded_rows(imp, shape) - shape.rows + 1);
}

// The best total of exactly m pairwise disjoint windows, by trying every subset of windows
// (window_count() must be small, say <= 18). -infinity if no such set exists.
inline double brute_force_best(const Matrix& imp, BlockShape shape, int64_t m) {
  const std::vector<Window> windows = all_windows(imp, shape);
  const int n = static_cast<int>(windows.size());
  double best = -std::numeric_limits<double>::infinity();
  for (uint32_t subset = 0; subset < (uint32_t{1} << n); ++subset) {
    if (__builtin_popcount(subset) != m) continue;
    bool disjoint = true;
    double sum = 0;
    for (int i = 0; i < n && disjoint; ++i) {
      if (!(subset & (uint32_t{1} << i))) continue;
      sum += windows[static_cast<size_t>(i)].score;
      for (int j = i + 1; j < n; ++j) {
        if (!(subset & (uint32_t{1} << j))) continue;
        const Block& a = windows[static_cast<size_t>(i)].block;
        const Block& b = windows[static_cast<size_t>(j)].block;
        if (a.col_group == b.col_group && b.start_row < a.start_row + shape.rows) {
          disjoint = false;  // (i < j: same group means b starts at or after a)
          break;
        }
      }
    }
    if (disjoint) best = std::max(best, sum);
  }
  return best;
}

// Importance of the real cells covered by blocks, each cell once, straight from the matrix.
inline double covered_importance(const Matrix& imp, BlockShape shape,
                                 const std::vector<Block>& blocks) {
  std::vector<char> kept(static_cast<size_t>(imp.rows * imp.cols), 0);
  for (const Block& b : blocks) {
    for (int64_t r = b.start_row; r < b.start_row + shape.rows && r < imp.rows; ++r) {
      for (int64_t c = b.col_group * shape.cols;
           c < (b.col_group + 1) * shape.cols && c < imp.cols; ++c) {
        kept[static_cast<size_t>(r * imp.cols + c)] = 1;
      }
    }
  }
  double sum = 0;
  for (size_t i = 0; i < kept.size(); ++i) {
    if (kept[i]) sum += imp.values[i];
  }
  return sum;
}

// F(0..K) of one column of row scores a (a.size() a multiple of bh, K = a.size() / bh): the best
// total of k disjoint windows of bh consecutive rows. Memoised recursion over the first row p:
//   G(p, k) = max(G(p+1, k), w[p] + G(p+bh, k-1)),  G(p, 0) = 0, -inf when k windows do not fit.
inline std::vector<double> reference_curve(const std::vector<double>& a, int bh) {
  const int64_t n = static_cast<int64_t>(a.size());
  const int64_t max_k = n / bh;
  const double none = -std::numeric_limits<double>::infinity();
  std::vector<double> memo(static_cast<size_t>((n + 1) * (max_k + 1)),
                           std::numeric_limits<double>::quiet_NaN());
  std::function<double(int64_t, int64_t)> g = [&](int64_t p, int64_t k) -> double {
    if (k == 0) return 0.0;
    if ((n - p) / bh < k) return none;
    double& slot = memo[static_cast<size_t>(p * (max_k + 1) + k)];
    if (slot == slot) return slot;  // not NaN: already computed
    double window = 0;
    for (int64_t r = p; r < p + bh; ++r) window += a[static_cast<size_t>(r)];
    slot = std::max(g(p + 1, k), window + g(p + bh, k - 1));
    return slot;
  };
  std::vector<double> curve;
  for (int64_t k = 0; k <= max_k; ++k) curve.push_back(g(0, k));
  return curve;
}

}  // namespace ubp::algorithms::reference
