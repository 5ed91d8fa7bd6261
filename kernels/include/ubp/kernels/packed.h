// Packed block-sparse weight formats (docs/method.md section 7).
//
// Input: a dense Cout x K weight matrix (row-major float), an optional bias (Cout floats), a
// block shape bh x bw and a block list (the selectors' output, any order). A block keeps rows
// [start_row, start_row + bh) of columns [col_group*bw, col_group*bw + bw).
//
// Ragged edges follow the selectors' padded grid: rows are padded with zero rows up to
// Rp = ceil(Cout / bh) * bh and columns up to Cp = ceil(K / bw) * bw. A block may extend into
// the padding; padding cells count as zero weights, are never stored as inputs (columns >= K
// are dropped) and never produce outputs (rows >= Cout are not stored).
//
// Storage unit: a *column vector* = the bh weights of one column of one block. A bh x bw block
// is stored as its (up to) bw column vectors, left to right. Both formats keep:
//   - bias, padded with zeros to Rp + bh entries (the WROS kernel reads bias[o + bh]);
//   - counts:   per step row (block-row for aligned, output row for unaligned), the number of
//               column vectors that start there;
//   - weights:  per column vector, bh floats, in storage order (step row by step row, columns
//               ascending inside a step row); padded with bh zeros;
//   - deltas:   per column vector, the column distance (in input rows of X) to the next column
//               vector in storage order (0 after the last one); padded with one zero. A kernel
//               multiplies it by the row stride of X (HW floats) so the inner loop only adds to a
//               pointer; the format itself does not depend on HW;
//   - row_begin / row_col: per step row, the index of its first column vector and the column the
//               input pointer stands at when that step row begins (lets a thread start anywhere).
//
// Aligned format (AlignedPacked): step rows are the Rp/bh block-rows; weight s of a vector
// belongs to output row block_row*bh + s.
//
// Unaligned WROS format (UnalignedPacked): step rows are the Rp output rows; counts[o] is the
// number of column vectors of blocks that START at row o. Weights are stored ROTATED: lane s
// holds the weight of row o + ((s - o) mod bh), i.e. the row whose ring slot (row mod bh) is s.
// So lane s always feeds accumulator set s and the inner FMA code equals the aligned kernel's.
#pragma once

#include <cstdint>
#include <vector>

#include "ubp/kernels/common.h"

namespace ubp::kernels {

struct PackedGeometry {
  int64_t rows = 0;         // Cout
  int64_t cols = 0;         // K
  BlockShape shape;         // bh x bw
  int64_t padded_rows = 0;  // Rp = ceil(Cout / bh) * bh
  int64_t num_blocks = 0;   // blocks in the list
  int64_t num_vectors = 0;  // stored column vectors (padding columns dropped)
  int64_t kept_cells = 0;   // real (non-padding) cells covered by the blocks
};

struct AlignedPacked {
  PackedGeometry geom;
  std::vector<float> bias;         // Rp + bh
  std::vector<int32_t> counts;     // Rp / bh
  std::vector<float> weights;      // (num_vectors + 1) * bh
  std::vector<int32_t> deltas;     // num_vectors + 1
  std::vector<int64_t> row_begin;  // Rp / bh + 1 (prefix sums of counts)
  std::vector<int32_t> row_col;    // Rp / bh
  int64_t step_rows() const { return geom.padded_rows / geom.shape.rows; }
  int64_t bytes() const;           // memory the kernel streams (all arrays)
};

struct UnalignedPacked {
  PackedGeometry geom;
  std::vector<float> bias;         // Rp + bh
  std::vector<int32_t> counts;     // Rp
  std::vector<float> weights;      // (num_vectors + 1) * bh, rotated (see above)
  std::vector<int32_t> deltas;     // num_vectors + 1
  std::vector<int64_t> row_begin;  // Rp + 1
  std::vector<int32_t> row_col;    // Rp
  int64_t step_rows() const { return geom.padded_rows; }
  int64_t bytes() const;
};

// Builders. `w` is rows x cols row-major, `bias` rows floats or nullptr (zeros).
// Throws std::invalid_argument with a message naming the offending block (index, col_group,
// start_row) and what is accepted, for: bh not in {1, 2, 4, 8}, bw < 1, empty matrix, a block
// outside the padded grid, two blocks sharing a cell (duplicates included) and, for the aligned
// format, a start row that is not a multiple of bh.
AlignedPacked pack_aligned(const float* w, const float* bias, int64_t rows, int64_t cols,
                           BlockShape shape, const std::vector<Block>& blocks);
UnalignedPacked pack_unaligned(const float* w, const float* bias, int64_t rows, int64_t cols,
                               BlockShape shape, const std::vector<Block>& blocks);

// The masked dense matrix (rows x cols, row-major): kept cells carry their weight, all others
// are 0. Round trip: unpack(pack(W, blocks)) == W * mask(blocks), exactly.
std::vector<float> unpack(const AlignedPacked& p);
std::vector<float> unpack(const UnalignedPacked& p);
// The bias (rows floats).
std::vector<float> unpack_bias(const AlignedPacked& p);
std::vector<float> unpack_bias(const UnalignedPacked& p);

// Dense weights pre-packed for dense_ours(): panels of kDensePanelRows rows, k-major inside a
// panel (panel[p][k][r] = W[p*8 + r][k], zero rows past Cout), bias padded likewise.
inline constexpr int kDensePanelRows = 8;
struct DensePacked {
  int64_t rows = 0, cols = 0;
  std::vector<float> panels;  // ceil(rows / 8) * 8 * cols
  std::vector<float> bias;    // ceil(rows / 8) * 8
};
DensePacked pack_dense(const float* w, const float* bias, int64_t rows, int64_t cols);

}  // namespace ubp::kernels
