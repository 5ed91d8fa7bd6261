// Straightforward references for the heuristic selectors `bed` and `greedy`, written from
// their definitions (docs/method.md sections 4.4 and 4.5, the file comments of bed.cpp and
// greedy.cpp) with no heap, no bitsets and no shared code with algorithms/src: every step
// rescans every window.
// O(m * P * bh) and worse; only for small inputs.
//
// Both use the selectors' documented arithmetic, so they must agree bit for bit, ties included:
//   row score a_g[r] = 0.0 + imp(r, c0) + imp(r, c0 + 1) + ... over the group's real columns,
//   window score     = 0.0 + a(first entry) + ... + a(last entry), in row order,
//   best window      = highest score, then lowest column group, then lowest first row.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/random_matrix.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms::heuristic_reference {

// rows[g][r] for r < Rp (padding rows 0).
inline std::vector<std::vector<double>> row_scores(const Matrix& imp, BlockShape shape) {
  const int64_t bh = shape.rows, bw = shape.cols;
  const int64_t rp = (imp.rows + bh - 1) / bh * bh;
  const int64_t groups = (imp.cols + bw - 1) / bw;
  std::vector<std::vector<double>> a(static_cast<size_t>(groups),
                                     std::vector<double>(static_cast<size_t>(rp), 0.0));
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t r = 0; r < imp.rows; ++r) {
      double sum = 0.0;
      for (int64_t c = g * bw; c < (g + 1) * bw && c < imp.cols; ++c) sum += imp(r, c);
      a[static_cast<size_t>(g)][static_cast<size_t>(r)] = sum;
    }
  }
  return a;
}

// Cuts every maximal run of kept rows into consecutive bh-row blocks (BED's division).
inline std::vector<Block> divide(const std::vector<std::vector<bool>>& kept, int64_t bh) {
  std::vector<Block> out;
  for (size_t g = 0; g < kept.size(); ++g) {
    const int64_t rp = static_cast<int64_t>(kept[g].size());
    int64_t r = 0;
    while (r < rp) {
      if (!kept[g][static_cast<size_t>(r)]) {
        ++r;
        continue;
      }
      int64_t end = r;
      while (end < rp && kept[g][static_cast<size_t>(end)]) ++end;
      for (int64_t s = r; s + bh <= end; s += bh) out.push_back(Block{static_cast<int64_t>(g), s});
      r = end;
    }
  }
  return out;
}

// BED by the book: live lists as plain vectors of rows, all windows rescanned every pick.
inline std::vector<Block> naive_bed(const Matrix& imp, BlockShape shape, int64_t m) {
  const auto a = row_scores(imp, shape);
  const int64_t bh = shape.rows;
  std::vector<std::vector<int64_t>> live(a.size());
  std::vector<std::vector<bool>> kept(a.size());
  for (size_t g = 0; g < a.size(); ++g) {
    for (int64_t r = 0; r < static_cast<int64_t>(a[g].size()); ++r) live[g].push_back(r);
    kept[g].assign(a[g].size(), false);
  }
  for (int64_t pick = 0; pick < m; ++pick) {
    bool found = false;
    double best = 0;
    size_t best_g = 0, best_i = 0;
    for (size_t g = 0; g < a.size(); ++g) {
      for (size_t i = 0; i + static_cast<size_t>(bh) <= live[g].size(); ++i) {
        double score = 0.0;
        for (int64_t k = 0; k < bh; ++k) score += a[g][static_cast<size_t>(live[g][i + static_cast<size_t>(k)])];
        // Scan order is (group, first row) ascending, so strict > keeps the documented tie order.
        if (!found || score > best) {
          found = true;
          best = score;
          best_g = g;
          best_i = i;
        }
      }
    }
    if (!found) return {};  // cannot happen for a valid budget
    for (int64_t k = 0; k < bh; ++k) kept[best_g][static_cast<size_t>(live[best_g][best_i + static_cast<size_t>(k)])] = true;
    live[best_g].erase(live[best_g].begin() + static_cast<std::ptrdiff_t>(best_i),
                       live[best_g].begin() + static_cast<std::ptrdiff_t>(best_i + static_cast<size_t>(bh)));
  }
  return divide(kept, bh);
}

// The number of blocks that still fit: sum over maximal runs of free rows of floor(len / bh).
inline int64_t free_capacity(const std::vector<std::vector<bool>>& kept, int64_t bh) {
  int64_t capacity = 0;
  for (const auto& group : kept) {
    int64_t run = 0;
    for (size_t r = 0; r <= group.size(); ++r) {
      if (r < group.size() && !group[r]) {
        ++run;
      } else {
        capacity += run / bh;
        run = 0;
      }
    }
  }
  return capacity;
}

// Greedy with the exactly-m rule, straight from its definition: a free window is allowed when,
// after taking it, the free rows can still hold every block left to place; take the best
// allowed window. (Capacity recomputed from scratch for every candidate.)
inline std::vector<Block> naive_greedy(const Matrix& imp, BlockShape shape, int64_t m) {
  const auto a = row_scores(imp, shape);
  const int64_t bh = shape.rows;
  std::vector<std::vector<bool>> kept(a.size());
  for (size_t g = 0; g < a.size(); ++g) kept[g].assign(a[g].size(), false);
  std::vector<Block> out;
  for (int64_t pick = 0; pick < m; ++pick) {
    const int64_t left_after = m - pick - 1;
    bool found = false;
    double best = 0;
    Block best_block;
    for (size_t g = 0; g < a.size(); ++g) {
      const int64_t rp = static_cast<int64_t>(a[g].size());
      for (int64_t s = 0; s + bh <= rp; ++s) {
        bool free = true;
        for (int64_t r = s; r < s + bh; ++r) free = free && !kept[g][static_cast<size_t>(r)];
        if (!free) continue;
        double score = 0.0;
        for (int64_t r = s; r < s + bh; ++r) score += a[g][static_cast<size_t>(r)];
        if (found && !(score > best)) continue;  // cheaper than the capacity check
        for (int64_t r = s; r < s + bh; ++r) kept[g][static_cast<size_t>(r)] = true;
        const bool allowed = free_capacity(kept, bh) >= left_after;
        for (int64_t r = s; r < s + bh; ++r) kept[g][static_cast<size_t>(r)] = false;
        if (!allowed) continue;
        found = true;
        best = score;
        best_block = Block{static_cast<int64_t>(g), s};
      }
    }
    if (!found) return {};  // cannot happen for a valid budget
    for (int64_t r = best_block.start_row; r < best_block.start_row + bh; ++r) {
      kept[static_cast<size_t>(best_block.col_group)][static_cast<size_t>(r)] = true;
    }
    out.push_back(best_block);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Importance of the real cells covered by the blocks (each cell once), from the matrix.
inline double covered(const Matrix& imp, BlockShape shape, const std::vector<Block>& blocks) {
  std::vector<char> mask(static_cast<size_t>(imp.rows * imp.cols), 0);
  for (const Block& b : blocks) {
    for (int64_t r = b.start_row; r < b.start_row + shape.rows && r < imp.rows; ++r) {
      for (int64_t c = b.col_group * shape.cols; c < (b.col_group + 1) * shape.cols && c < imp.cols; ++c) {
        mask[static_cast<size_t>(r * imp.cols + c)] = 1;
      }
    }
  }
  double sum = 0;
  for (size_t i = 0; i < mask.size(); ++i) {
    if (mask[i]) sum += imp.values[i];
  }
  return sum;
}

// Largest budget the selectors accept: col_groups * Rp / bh.
inline int64_t max_budget(const Matrix& imp, BlockShape shape) {
  const BlockGrid grid = make_grid(imp.rows, imp.cols, shape);
  return grid.col_groups * grid.aligned_tiles_per_group;
}

// One column of row importances.
inline Matrix column(const std::vector<float>& values) {
  Matrix m(static_cast<int64_t>(values.size()), 1);
  for (size_t i = 0; i < values.size(); ++i) m.values[i] = values[i];
  return m;
}

// Columns side by side (all the same length).
inline Matrix columns(const std::vector<std::vector<float>>& cols) {
  Matrix m(static_cast<int64_t>(cols.front().size()), static_cast<int64_t>(cols.size()));
  for (size_t c = 0; c < cols.size(); ++c) {
    for (size_t r = 0; r < cols[c].size(); ++r) m(static_cast<int64_t>(r), static_cast<int64_t>(c)) = cols[c][r];
  }
  return m;
}

inline Matrix abs_gaussian(int64_t rows, int64_t cols, uint64_t seed) {
  Matrix m = random_matrix(rows, cols, Distribution::kGaussian, seed);
  for (float& v : m.values) v = std::fabs(v);
  return m;
}

}  // namespace ubp::algorithms::heuristic_reference
