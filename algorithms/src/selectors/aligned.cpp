// Aligned block pruning (ABP, docs/method.md section 4.1): in every column group the candidates are the
// fixed tiles starting at rows 0, bh, 2bh, ... of the padded grid; keep the `budget` tiles with
// the highest importance.
//
// Tile score: sum, in double, of the importance of the tile's real cells (padding counts as 0),
// accumulated in row-major order.
//
// Tie-breaking (a strict total order, so the chosen set is fully determined):
//   higher score first; equal scores -> lower col_group first; then lower start_row first.
// Tiles are indexed col_group * tiles_per_group + start_row / bh, so the order is
// "score descending, index ascending". The budget-th element is placed with std::nth_element
// (O(T) average) and only the kept m tiles are sorted (O(m log m)).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms {
namespace {

class AlignedSelector final : public Selector {
 public:
  std::string name() const override { return "aligned"; }
  bool unaligned() const override { return false; }

  SelectionResult select(MatrixView importance, BlockShape shape, int64_t budget) const override {
    const BlockGrid grid = make_grid(importance.rows, importance.cols, shape);
    const int64_t per_group = grid.aligned_tiles_per_group;
    const int64_t num_tiles = grid.col_groups * per_group;
    if (budget < 0 || budget > num_tiles) {
      throw SelectionError("aligned: budget " + std::to_string(budget) + " outside [0, " +
                           std::to_string(num_tiles) + "] aligned tiles (" +
                           std::to_string(grid.col_groups) + " column groups x " +
                           std::to_string(per_group) + " tiles of " + to_string(shape) + ")");
    }

    SelectionResult result;
    result.block_shape = shape;
    if (budget > 0) {
      const int64_t bh = shape.rows, bw = shape.cols;
      std::vector<double> score(static_cast<size_t>(num_tiles), 0.0);
      for (int64_t r = 0; r < importance.rows; ++r) {
        const int64_t tile_row = r / bh;
        for (int64_t c = 0; c < importance.cols; ++c) {
          score[static_cast<size_t>((c / bw) * per_group + tile_row)] += importance(r, c);
        }
      }
      for (int64_t i = 0; i < num_tiles; ++i) {
        if (std::isnan(score[static_cast<size_t>(i)])) {
          throw SelectionError("aligned: importance contains NaN (tile col_group=" +
                               std::to_string(i / per_group) +
                               ", start_row=" + std::to_string((i % per_group) * bh) + ")");
        }
      }

      std::vector<int64_t> order(static_cast<size_t>(num_tiles));
      for (int64_t i = 0; i < num_tiles; ++i) order[static_cast<size_t>(i)] = i;
      const auto better = [&score](int64_t a, int64_t b) {
        const double sa = score[static_cast<size_t>(a)], sb = score[static_cast<size_t>(b)];
        if (sa != sb) return sa > sb;
        return a < b;  // same score: lower col_group, then lower start_row
      };
      const auto kept_end = order.begin() + budget;
      if (budget < num_tiles) std::nth_element(order.begin(), kept_end - 1, order.end(), better);
      std::sort(order.begin(), kept_end);  // output order: (col_group, start_row)

      result.blocks.reserve(static_cast<size_t>(budget));
      for (auto it = order.begin(); it != kept_end; ++it) {
        result.blocks.push_back(Block{*it / per_group, (*it % per_group) * bh});
      }
    }
    score_selection(importance, grid, result);
    return result;
  }
};

}  // namespace

UBP_REGISTER_SELECTOR("aligned", AlignedSelector);

}  // namespace ubp::algorithms
