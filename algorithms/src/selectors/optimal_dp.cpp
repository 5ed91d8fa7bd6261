// `optimal-dp`: the reference formulation of optimal unaligned block pruning (docs/method.md section 4.2)
// that the paper calls time-consuming. ONE exact dynamic program over every window position of
// the layer (the column groups' padded rows concatenated, P = col_groups * Rp positions) and
// every block count j <= m:
//   f[i][j] = max(f[i-1][j], f[i-bh][j-1] + w[i-bh]),   windows never crossing a group boundary,
// followed by a walk back through the choices. Time O(P * m); memory O(P * m) bits for the
// choices plus a ring of bh+1 rows of m+1 doubles (internal/window_dp.h has the details).
//
// It is kept as ground truth for small layers. Before allocating anything it estimates its
// memory (choice bits + value ring + window table) and throws SelectionError when the estimate
// exceeds SelectorOptions::memory_limit_bytes, pointing at `optimal`, which is exact too and
// fast. (1024x1024 with 4x1 blocks at 80% sparsity needs about 6.4 GiB and 5.5e10 DP steps:
// measured 93 s with a raised limit on a 2-core x86 development machine, against ~35 ms for
// `optimal`, with the same retained importance.)
//
// Window scores: a window's score is the sum of its rows' importance, each row summed over the
// group's columns, in double (internal/window_table.h). NaN or infinite importance is refused.
//
// Tie-breaking: a window is taken only when strictly better than skipping, so among the optimal
// selections the walk back from the end keeps the last block (in (col_group, start_row) order)
// as early as possible, then the one before it, and so on. On all-equal importance this packs
// the blocks into the first aligned tiles in (col_group, start_row) order, like `aligned`.
// Same input -> same blocks.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "../internal/window_dp.h"
#include "../internal/window_table.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms {
namespace {

// "6.41 GiB" / "12.5 MiB": the units the refusal message promises.
std::string human_bytes(double bytes) {
  constexpr double kMiB = 1024.0 * 1024.0, kGiB = kMiB * 1024.0;
  char buf[64];
  if (bytes >= kGiB) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / kGiB);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g MiB", bytes / kMiB);
  }
  return buf;
}

class OptimalDpSelector final : public Selector {
 public:
  explicit OptimalDpSelector(const SelectorOptions& options) : options_(options) {}

  std::string name() const override { return "optimal-dp"; }
  bool unaligned() const override { return true; }

  SelectionResult select(MatrixView importance, BlockShape shape, int64_t budget) const override {
    const BlockGrid grid = make_grid(importance.rows, importance.cols, shape);
    internal::check_unaligned_budget(grid, budget, name());

    // Refuse before allocating: the choice bits grow as P * m.
    const double estimate =
        internal::exact_dp_memory_bytes(grid.col_groups, grid.padded_rows, shape.rows, budget);
    if (estimate > static_cast<double>(options_.memory_limit_bytes)) {
      throw SelectionError(
          "optimal-dp: the exact DP would need about " + human_bytes(estimate) + " (" +
          std::to_string(static_cast<long long>(estimate)) + " bytes) for a " +
          std::to_string(grid.rows) + "x" + std::to_string(grid.cols) + " layer with " +
          to_string(shape) + " blocks (" + std::to_string(grid.col_groups * grid.padded_rows) +
          " window positions) and m=" + std::to_string(budget) +
          " blocks, above the memory limit of " +
          human_bytes(static_cast<double>(options_.memory_limit_bytes)) + " (" +
          std::to_string(options_.memory_limit_bytes) +
          " bytes); use the `optimal` selector, which is also exact and needs O(P) memory, or "
          "raise memory_limit_bytes");
    }

    const internal::WindowTable table = internal::build_window_table(importance, grid, name());
    SelectionResult result;
    result.block_shape = shape;
    result.blocks = internal::exact_window_select(table, 0, table.groups, budget).blocks;
    score_selection(importance, grid, result);
    return result;
  }

 private:
  SelectorOptions options_;
};

}  // namespace

UBP_REGISTER_SELECTOR("optimal-dp", OptimalDpSelector);

}  // namespace ubp::algorithms
