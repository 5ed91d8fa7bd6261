#include "export/block_decomposition.h"

#include <algorithm>
#include <stdexcept>

namespace ubp::exporter {
namespace {

std::string shape_text(kernels::BlockShape shape) {
  return std::to_string(shape.rows) + "x" + std::to_string(shape.cols);
}

std::string columns_text(int64_t first, int64_t last) {
  return first == last ? "column " + std::to_string(first)
                       : "columns " + std::to_string(first) + ".." + std::to_string(last);
}

void check_arguments(const std::vector<float>& mask, int64_t rows, int64_t cols,
                     kernels::BlockShape shape) {
  if (rows < 1 || cols < 1) {
    throw std::invalid_argument("block mask: the matrix is " + std::to_string(rows) + " x " +
                                std::to_string(cols) + "; it needs at least one row and column");
  }
  if (shape.rows < 1 || shape.cols < 1) {
    throw std::invalid_argument("block mask: block shape " + shape_text(shape) +
                                " is empty; rows and columns must be at least 1");
  }
  if (static_cast<int64_t>(mask.size()) != rows * cols) {
    throw std::invalid_argument("block mask: " + std::to_string(mask.size()) +
                                " mask values for a " + std::to_string(rows) + " x " +
                                std::to_string(cols) + " matrix");
  }
}

}  // namespace

std::string to_string(BlockLayout layout) {
  return layout == BlockLayout::kAligned ? "aligned" : "unaligned";
}

std::optional<std::vector<kernels::Block>> try_blocks_from_mask(const std::vector<float>& mask,
                                                                int64_t rows, int64_t cols,
                                                                kernels::BlockShape shape,
                                                                BlockLayout layout,
                                                                std::string* why) {
  check_arguments(mask, rows, cols, shape);
  const int64_t bh = shape.rows, bw = shape.cols;
  const int64_t padded_rows = (rows + bh - 1) / bh * bh;
  const int64_t groups = (cols + bw - 1) / bw;
  auto refuse = [&](const std::string& reason) {
    if (why) *why = reason;
    return std::nullopt;
  };
  std::vector<kernels::Block> blocks;
  std::vector<bool> kept(static_cast<size_t>(rows));
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t first = g * bw, last = std::min(cols, first + bw) - 1;  // real columns only
    const std::string where =
        "column group " + std::to_string(g) + " (" + columns_text(first, last) + ")";
    // A block keeps all its columns or none, so the group's columns must agree row by row.
    for (int64_t r = 0; r < rows; ++r) {
      const bool k = mask[static_cast<size_t>(r * cols + first)] != 0.0f;
      kept[static_cast<size_t>(r)] = k;
      for (int64_t c = first + 1; c <= last; ++c) {
        if ((mask[static_cast<size_t>(r * cols + c)] != 0.0f) != k) {
          return refuse(where + ", row " + std::to_string(r) + ": column " +
                        std::to_string(k ? first : c) + " keeps the weight but column " +
                        std::to_string(k ? c : first) + " prunes it, so no " + shape_text(shape) +
                        " block covers it");
        }
      }
    }
    int64_t r = 0;
    while (r < rows) {
      if (!kept[static_cast<size_t>(r)]) {
        ++r;
        continue;
      }
      const int64_t start = r;
      while (r < rows && kept[static_cast<size_t>(r)]) ++r;
      const int64_t end = r;  // the run of kept rows is [start, end)
      if (layout == BlockLayout::kAligned && start % bh != 0) {
        return refuse(where + ", row " + std::to_string(start) + ": kept rows start there, " +
                      "not at a multiple of " + std::to_string(bh) + " as aligned blocks do");
      }
      const int64_t tiled_end = start + (end - start + bh - 1) / bh * bh;
      if (tiled_end > end && end < rows) {
        return refuse(where + ", row " + std::to_string(end) + ": the kept rows " +
                      std::to_string(start) + ".." + std::to_string(end - 1) + " (" +
                      std::to_string(end - start) + ") are not a whole number of " +
                      std::to_string(bh) + "-row blocks, and the last block would keep row " +
                      std::to_string(end) + ", which is pruned");
      }
      if (tiled_end > padded_rows) {
        return refuse(where + ", row " + std::to_string(start) + ": the kept rows " +
                      std::to_string(start) + ".." + std::to_string(end - 1) + " would need a " +
                      "block ending at row " + std::to_string(tiled_end - 1) +
                      ", past the padded grid of " + std::to_string(padded_rows) + " rows");
      }
      for (int64_t b = start; b < end; b += bh) blocks.push_back({g, b});
    }
  }
  return blocks;
}

std::vector<kernels::Block> blocks_from_mask(const std::vector<float>& mask, int64_t rows,
                                             int64_t cols, kernels::BlockShape shape,
                                             BlockLayout layout, const std::string& layer) {
  std::string why;
  if (auto blocks = try_blocks_from_mask(mask, rows, cols, shape, layout, &why)) return *blocks;
  std::string hint;
  if (layout == BlockLayout::kAligned &&
      try_blocks_from_mask(mask, rows, cols, shape, BlockLayout::kUnaligned, nullptr)) {
    hint = "the unaligned kernel fits it (--kernel unaligned)";
  } else {
    hint =
        "the dense kernel fits any mask (--kernel dense), or give the block shape the mask "
        "was chosen with";
  }
  throw std::invalid_argument("layer '" + layer + "': the mask is not made of " +
                              to_string(layout) + " " + shape_text(shape) + " blocks: " + why +
                              "; " + hint);
}

std::vector<float> mask_from_blocks(const std::vector<kernels::Block>& blocks, int64_t rows,
                                    int64_t cols, kernels::BlockShape shape) {
  std::vector<float> mask(static_cast<size_t>(rows * cols), 0.0f);
  check_arguments(mask, rows, cols, shape);
  const int64_t bh = shape.rows, bw = shape.cols;
  const int64_t padded_rows = (rows + bh - 1) / bh * bh;
  const int64_t groups = (cols + bw - 1) / bw;
  for (const auto& b : blocks) {
    if (b.col_group < 0 || b.col_group >= groups || b.start_row < 0 ||
        b.start_row + bh > padded_rows) {
      throw std::invalid_argument(
          "block (column group " + std::to_string(b.col_group) + ", row " +
          std::to_string(b.start_row) + ") is outside the padded grid: " + std::to_string(groups) +
          " column groups, start rows 0.." + std::to_string(padded_rows - bh));
    }
    for (int64_t r = b.start_row; r < std::min(rows, b.start_row + bh); ++r) {
      for (int64_t c = b.col_group * bw; c < std::min(cols, (b.col_group + 1) * bw); ++c) {
        mask[static_cast<size_t>(r * cols + c)] = 1.0f;
      }
    }
  }
  return mask;
}

}  // namespace ubp::exporter
