// Block lists from masks: the inverse of building a mask from a selector's blocks.
//
// The packed formats of kernels/ store blocks, while training keeps masks (0/1 tensors of the
// weight's shape, training/masking.h). A mask built from non-overlapping bh x bw blocks on the
// padded grid (kernels/include/ubp/kernels/packed.h) has exactly one block list:
//   - inside a column group (bw consecutive columns) every real column keeps the same rows;
//   - the kept rows of a column group form runs of consecutive rows, and a run starting at row
//     s is tiled from the top by blocks at s, s + bh, s + 2 bh, ...; the last block must end
//     exactly at the run's end, except that a run reaching the last real row (Cout - 1) may
//     end with a block running into the padding rows, up to Rp = ceil(Cout / bh) * bh.
// Any other tiling would either leave a kept row uncovered or cover a pruned real row, so the
// greedy tiling is the only one. The aligned format needs in addition start rows that are
// multiples of bh.
//
// Plain C++ (no LibTorch) so the rules can be tested on their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ubp/kernels/common.h"

namespace ubp::exporter {

enum class BlockLayout { kAligned, kUnaligned };
std::string to_string(BlockLayout layout);  // "aligned", "unaligned"

// The unique block list of `mask` (rows x cols row-major, 0 = pruned, anything else = kept) on
// the `shape` grid, sorted by column group then start row. Throws std::invalid_argument when no
// list of `layout` blocks gives this mask; the message names `layer`, the column group and the
// row where it fails, and the export kernel that would accept the mask (unaligned when only
// the alignment is wrong, dense otherwise).
std::vector<kernels::Block> blocks_from_mask(const std::vector<float>& mask, int64_t rows,
                                             int64_t cols, kernels::BlockShape shape,
                                             BlockLayout layout, const std::string& layer);

// The same without throwing: the block list, or nullopt with the reason in `why` (no layer
// name, no suggestion).
std::optional<std::vector<kernels::Block>> try_blocks_from_mask(const std::vector<float>& mask,
                                                                int64_t rows, int64_t cols,
                                                                kernels::BlockShape shape,
                                                                BlockLayout layout,
                                                                std::string* why);

// The mask (rows x cols, 0 or 1) that `blocks` keep on the `shape` grid; cells in the padding
// are dropped. Throws std::invalid_argument for a block outside the padded grid.
std::vector<float> mask_from_blocks(const std::vector<kernels::Block>& blocks, int64_t rows,
                                    int64_t cols, kernels::BlockShape shape);

}  // namespace ubp::exporter
