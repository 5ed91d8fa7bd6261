// The structural promises every unaligned selection keeps, checked in one place: exactly m
// sorted, valid, non-overlapping blocks of the requested shape, with bookkeeping (total,
// retained importance, kept cells) that agrees with the matrix.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "heuristic_reference.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms {

inline void check_structure(const Matrix& imp, BlockShape shape, int64_t m, const SelectionResult& res) {
  const BlockGrid grid = make_grid(imp.rows, imp.cols, shape);
  EXPECT_EQ(res.block_shape.rows, shape.rows);
  EXPECT_EQ(res.block_shape.cols, shape.cols);
  EXPECT_EQ(static_cast<int64_t>(res.blocks.size()), m);
  EXPECT_TRUE(std::is_sorted(res.blocks.begin(), res.blocks.end()));
  EXPECT_NO_THROW(validate_blocks(grid, res.blocks, /*require_aligned=*/false));
  double total = 0;
  for (float v : imp.values) total += v;
  const double tol = 1e-9 * std::max(1.0, total);
  EXPECT_NEAR(res.total_importance, total, tol);
  EXPECT_NEAR(res.retained_importance, heuristic_reference::covered(imp, shape, res.blocks), tol);
  const std::vector<uint8_t> mask = block_mask(grid, res.blocks);
  int64_t ones = 0;
  for (uint8_t v : mask) ones += v;
  EXPECT_EQ(res.kept_cells, ones);
}

// Small integers 0..max_value: many ties, which is where tie-breaking rules are tested.
inline Matrix integer_matrix(int64_t rows, int64_t cols, int max_value, std::mt19937_64& rng) {
  Matrix m(rows, cols);
  for (float& v : m.values) v = static_cast<float>(rng() % static_cast<uint64_t>(max_value + 1));
  return m;
}

}  // namespace ubp::algorithms
