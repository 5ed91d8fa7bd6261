// Block geometry shared by every selector (docs/method.md sections 1 and 3).
//
// A layer is a Cout x K matrix. A block is bh consecutive rows by bw consecutive columns.
// Columns are always grouped *aligned* into ceil(K / bw) column groups; rows are where the
// selectors differ: aligned blocks start at multiples of bh, unaligned blocks at any row.
//
// Ragged edges (ours): the matrix is treated as padded with zero-importance cells up to
// Rp = max(bh, ceil(Cout / bh) * bh) rows and Cp = ceil(K / bw) * bw columns. Blocks live on the
// padded grid; the padding is never part of the mask, so a weight in a ragged row or column is
// kept only as part of a block, and a block over the padding keeps just its real cells.
// The budget counts real cells only: m = floor(Cout * K * (1 - s) / (bh * bw)), which never
// exceeds the number of aligned tiles, so every selector can always return exactly m blocks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ubp/algorithms/matrix.h"

namespace ubp::algorithms {

struct BlockShape {
  int rows = 1;  // bh
  int cols = 1;  // bw
};

// A kept block: its column group (columns [col_group*bw, col_group*bw + bw)) and first row.
struct Block {
  int64_t col_group = 0;
  int64_t start_row = 0;
  bool operator==(const Block& o) const {
    return col_group == o.col_group && start_row == o.start_row;
  }
  bool operator<(const Block& o) const {
    return col_group != o.col_group ? col_group < o.col_group : start_row < o.start_row;
  }
};

// Padded grid of a rows x cols layer for a block shape (see the file comment).
struct BlockGrid {
  int64_t rows = 0, cols = 0;                 // real matrix
  BlockShape shape;
  int64_t padded_rows = 0, padded_cols = 0;   // Rp, Cp
  int64_t col_groups = 0;                     // Cp / bw
  int64_t aligned_tiles_per_group = 0;        // Rp / bh
};
BlockGrid make_grid(int64_t rows, int64_t cols, BlockShape shape);  // throws std::invalid_argument

// m = floor(rows * cols * (1 - sparsity) / (bh * bw)); sparsity in [0, 1].
int64_t block_budget(int64_t rows, int64_t cols, BlockShape shape, double sparsity);

std::string to_string(BlockShape shape);  // "4x1"

}  // namespace ubp::algorithms
