// Per-layer block budgets (docs/method.md section 3): how many blocks each pruned layer keeps.
//
// Every layer is a Cout x K importance matrix and all layers share one block shape bh x bw.
//
// uniform
//   Every layer gets the same sparsity: m_l = block_budget(rows_l, cols_l, shape, s'), where
//   s' = clamp(s, min_sparsity, max_sparsity). With the default clamps [0, 1], s' = s.
//   Only the dimensions of the importance views are read (data may be null).
//
// global
//   One threshold over the block scores of all layers, so that layers with more important
//   blocks keep more of them.
//   - Overall budget: M = floor(total_cells * (1 - s) / (bh * bw)), total_cells = the sum of
//     rows_l * cols_l over all layers (real cells only; rounding as in block_budget).
//   - Per-layer clamps: lo_l = block_budget(..., max_sparsity) <= m_l <= hi_l =
//     block_budget(..., min_sparsity).
//   - Block score (our choice): the score of each *aligned* tile of the padded grid, i.e. the
//     sum of the importance of its real cells, accumulated in double; padding cells count 0.
//     This is the score the `aligned` selector ranks. No normalisation: all layers share the
//     block shape, so every full tile has the same bh * bw cells and a per-cell mean would only
//     rescale every score by the same constant; the one place it would differ is a ragged tile,
//     which under the raw sum is penalised for its padding exactly as in selection. Neither is
//     there a per-layer normalisation: a global threshold over raw scores is the point (a
//     layer of larger weights keeps more of them).
//   - Rule: sort every tile of every layer by (score descending, layer index ascending, tile
//     index col_group * tiles_per_group + start_row / bh ascending), a strict total order, so
//     ties are broken deterministically in favour of earlier layers, then earlier tiles. For
//     a prefix length t of that order let c_l(t) be the number of layer l's tiles in the
//     prefix and m_l(t) = clamp(c_l(t), lo_l, hi_l). sum_l m_l(t) starts at sum lo_l (t = 0),
//     ends at sum hi_l (t = all tiles) and grows by 0 or 1 per step, so whenever
//     sum lo_l <= M <= sum hi_l there is a smallest t with sum_l m_l(t) == M exactly; that t
//     is the threshold and m_l(t) are the budgets.
//   - Saturation: if the clamps make M unreachable (sum lo_l > M or sum hi_l < M) every layer
//     gets lo_l (resp. hi_l), the closest feasible total; `status` says which, and
//     total_budget != target_budget.
//
// The budgets only say how many blocks a layer keeps; the chosen selector then places them
// (for an unaligned selector the aligned tile scores are the allocation's proxy).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"

namespace ubp::algorithms {

enum class AllocationMode { kUniform, kGlobal };
// "uniform" | "global"; throws std::invalid_argument naming the accepted values.
AllocationMode allocation_mode_from_string(const std::string& name);
const char* to_string(AllocationMode mode);

struct AllocationLayer {
  std::string name;       // unique, non-empty (used in error messages and in the result)
  MatrixView importance;  // rows x cols importance (>= 0 expected, must be finite)
};

struct AllocationOptions {
  AllocationMode mode = AllocationMode::kUniform;
  BlockShape shape{4, 1};
  double sparsity = 0.8;      // target sparsity s in [0, 1]
  double min_sparsity = 0.0;  // per-layer clamps, 0 <= min_sparsity <= max_sparsity <= 1
  double max_sparsity = 1.0;
};

enum class AllocationStatus {
  kExact,           // total_budget == target_budget
  kSaturatedLow,    // clamps force more blocks than the target: every layer at max_sparsity
  kSaturatedHigh,   // clamps allow fewer blocks than the target: every layer at min_sparsity
};
const char* to_string(AllocationStatus status);

struct LayerBudget {
  std::string name;
  int64_t rows = 0, cols = 0;
  int64_t budget = 0;       // m_l: blocks to keep
  int64_t min_budget = 0;   // lo_l = block_budget(rows, cols, shape, max_sparsity)
  int64_t max_budget = 0;   // hi_l = block_budget(rows, cols, shape, min_sparsity)
  int64_t num_tiles = 0;    // aligned tiles of the padded grid
  // Nominal sparsity 1 - budget * bh * bw / (rows * cols) (blocks over padding counted full).
  double sparsity = 0;
};

struct Allocation {
  AllocationMode mode = AllocationMode::kUniform;
  BlockShape shape;
  std::vector<LayerBudget> layers;  // in input order
  // uniform: sum of the layers' block_budget; global: M as defined above.
  int64_t target_budget = 0;
  int64_t total_budget = 0;  // sum of layers[i].budget
  AllocationStatus status = AllocationStatus::kExact;
  // global only: score of the last tile inside the threshold prefix (the smallest score that
  // counted towards c_l); +infinity when the prefix is empty, 0 for uniform.
  double threshold = 0;
};

// Validates the inputs (std::invalid_argument with the offending layer / value) and computes
// the budgets. Deterministic: the same inputs always give the same budgets.
Allocation allocate_blocks(const std::vector<AllocationLayer>& layers,
                           const AllocationOptions& options);

// Aligned tile scores of one layer in tile-index order (col_group * tiles_per_group +
// start_row / bh), as used by the global allocation. Throws std::invalid_argument on NaN or
// infinite importance.
std::vector<double> aligned_tile_scores(MatrixView importance, BlockShape shape);

}  // namespace ubp::algorithms
