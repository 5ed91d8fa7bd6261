// Block geometry: padded grid and the per-layer block budget (docs/method.md sections 1 and 3).
#include "ubp/algorithms/blocks.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace ubp::algorithms {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void check_dims(int64_t rows, int64_t cols, BlockShape shape, const char* who) {
  if (rows < 1 || cols < 1) {
    throw std::invalid_argument(std::string(who) + ": matrix must be at least 1x1, got " +
                                std::to_string(rows) + "x" + std::to_string(cols));
  }
  if (shape.rows < 1 || shape.cols < 1) {
    throw std::invalid_argument(std::string(who) + ": block shape must be at least 1x1, got " +
                                to_string(shape));
  }
  // Keep rows * cols and the padded sizes comfortably inside int64_t.
  constexpr int64_t kMaxDim = int64_t{1} << 30;
  if (rows > kMaxDim || cols > kMaxDim) {
    throw std::invalid_argument(std::string(who) + ": matrix too large: " +
                                std::to_string(rows) + "x" + std::to_string(cols));
  }
}

}  // namespace

BlockGrid make_grid(int64_t rows, int64_t cols, BlockShape shape) {
  check_dims(rows, cols, shape, "make_grid");
  BlockGrid g;
  g.rows = rows;
  g.cols = cols;
  g.shape = shape;
  const int64_t bh = shape.rows, bw = shape.cols;
  // rows >= 1, so ceil(rows / bh) * bh >= bh: the max() of the header comment is implicit.
  g.padded_rows = ceil_div(rows, bh) * bh;
  g.padded_cols = ceil_div(cols, bw) * bw;
  g.col_groups = g.padded_cols / bw;
  g.aligned_tiles_per_group = g.padded_rows / bh;
  return g;
}

int64_t block_budget(int64_t rows, int64_t cols, BlockShape shape, double sparsity) {
  check_dims(rows, cols, shape, "block_budget");
  if (!(sparsity >= 0.0 && sparsity <= 1.0)) {  // also rejects NaN
    throw std::invalid_argument("block_budget: sparsity must be in [0, 1], got " +
                                std::to_string(sparsity));
  }
  const BlockGrid g = make_grid(rows, cols, shape);
  const int64_t tiles = g.col_groups * g.aligned_tiles_per_group;

  // floor(rows * cols * (1 - s) / (bh * bw)) in long double. A sparsity such as 0.3 is not
  // exactly representable, so the exact quotient can land a hair below an integer (6.9999...
  // for a mathematically exact 7). Values within a relative 1e-9 of an integer snap to it
  // before flooring; a genuine fractional part that small cannot come from a sparsity that a
  // user would write down.
  const long double cells = static_cast<long double>(rows) * static_cast<long double>(cols);
  const long double area = static_cast<long double>(shape.rows) * shape.cols;
  const long double x = cells * (1.0L - static_cast<long double>(sparsity)) / area;
  const long double nearest = std::nearbyint(x);
  const long double tol = 1e-9L * std::max<long double>(1.0L, std::fabs(x));
  const long double floored = std::fabs(x - nearest) <= tol ? nearest : std::floor(x);
  int64_t m = static_cast<int64_t>(floored);
  // Mathematically m <= rows*cols/(bh*bw) <= tiles; clamp against any residual rounding.
  if (m < 0) m = 0;
  if (m > tiles) m = tiles;
  return m;
}

std::string to_string(BlockShape shape) {
  return std::to_string(shape.rows) + "x" + std::to_string(shape.cols);
}

}  // namespace ubp::algorithms
