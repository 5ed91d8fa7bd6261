// Unstructured magnitude pruning: the reference point every block selector is measured against.
// For a budget of m blocks of bh x bw it keeps the m * bh * bw most important single weights
// among the real (non-padding) cells, capped at rows * cols (a budget near the maximum can ask
// for more cells than the matrix has when the grid is padded). Nothing constrains single
// weights, so at equal kept-cell count this is an upper bound on the retained importance of
// any block selection.
//
// The result is expressed as 1x1 blocks: result.block_shape = {1, 1}, one block per kept
// weight with col_group = its column and start_row = its row, sorted by (column, row). The
// budget is validated in units of the requested blocks, exactly like the block selectors:
// 0 <= m <= col_groups * Rp / bh of the requested shape, else SelectionError. NaN importance
// throws SelectionError (infinities are fine: only comparisons are made).
//
// Tie-breaking (a strict total order): higher importance first; equal importance -> lower
// row-major index (row * cols + col) first. The k-th element is placed with std::nth_element
// (O(rows * cols) average) and only the kept k cells are sorted.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms {
namespace {

class UnstructuredSelector final : public Selector {
 public:
  std::string name() const override { return "unstructured"; }
  bool unaligned() const override { return true; }

  SelectionResult select(MatrixView importance, BlockShape shape, int64_t budget) const override {
    const BlockGrid grid = make_grid(importance.rows, importance.cols, shape);
    const int64_t max_blocks = grid.col_groups * grid.aligned_tiles_per_group;
    if (budget < 0 || budget > max_blocks) {
      throw SelectionError("unstructured: budget " + std::to_string(budget) + " outside [0, " +
                           std::to_string(max_blocks) + "] blocks (" +
                           std::to_string(grid.col_groups) + " column groups x " +
                           std::to_string(grid.aligned_tiles_per_group) + " blocks of " +
                           to_string(shape) + " per group)");
    }
    const int64_t rows = importance.rows, cols = importance.cols;
    const int64_t cells = rows * cols;
    const int64_t keep = std::min(cells, budget * shape.rows * shape.cols);

    // (importance, row-major index) pairs: contiguous, so the selection streams through memory.
    std::vector<std::pair<float, int64_t>> order(static_cast<size_t>(cells));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const float v = importance(r, c);
        if (std::isnan(v)) {
          throw SelectionError("unstructured: importance contains NaN at (" + std::to_string(r) +
                               ", " + std::to_string(c) + ")");
        }
        order[static_cast<size_t>(r * cols + c)] = {v, r * cols + c};
      }
    }

    SelectionResult result;
    result.block_shape = BlockShape{1, 1};
    if (keep > 0) {
      const auto better = [](const std::pair<float, int64_t>& x,
                             const std::pair<float, int64_t>& y) {
        if (x.first != y.first) return x.first > y.first;
        return x.second < y.second;
      };
      const auto kept_end = order.begin() + keep;
      if (keep < cells) std::nth_element(order.begin(), kept_end - 1, order.end(), better);
      result.blocks.reserve(static_cast<size_t>(keep));
      for (auto it = order.begin(); it != kept_end; ++it) {
        result.blocks.push_back(Block{it->second % cols, it->second / cols});
      }
      std::sort(result.blocks.begin(), result.blocks.end());  // (column, row)
    }
    score_selection(importance, make_grid(rows, cols, BlockShape{1, 1}), result);
    return result;
  }
};

}  // namespace

UBP_REGISTER_SELECTOR("unstructured", UnstructuredSelector);

}  // namespace ubp::algorithms
