// Selector registry and the helpers shared by every selector: masks, validation, scoring.
#include "ubp/algorithms/selector.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace ubp::algorithms {
namespace {

std::string describe(const Block& b) {
  return "block (col_group=" + std::to_string(b.col_group) +
         ", start_row=" + std::to_string(b.start_row) + ")";
}

std::string grid_summary(const BlockGrid& g) {
  return "grid " + std::to_string(g.rows) + "x" + std::to_string(g.cols) + " padded to " +
         std::to_string(g.padded_rows) + "x" + std::to_string(g.padded_cols) + ", block " +
         to_string(g.shape) + ", " + std::to_string(g.col_groups) + " column groups";
}

// Throws SelectionError when b does not fit the padded grid.
void check_in_grid(const BlockGrid& g, const Block& b) {
  if (b.col_group < 0 || b.col_group >= g.col_groups) {
    throw SelectionError(describe(b) + ": col_group outside [0, " +
                         std::to_string(g.col_groups) + ") (" + grid_summary(g) + ")");
  }
  const int64_t last_start = g.padded_rows - g.shape.rows;
  if (b.start_row < 0 || b.start_row > last_start) {
    throw SelectionError(describe(b) + ": start_row outside [0, " + std::to_string(last_start) +
                         "] (" + grid_summary(g) + ")");
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Registry

SelectorRegistry& SelectorRegistry::instance() {
  // Function-local static: safe to use from the static registration objects of any TU.
  static SelectorRegistry registry;
  return registry;
}

void SelectorRegistry::add(const std::string& name, SelectorFactory factory) {
  if (name.empty()) throw std::logic_error("selector registry: empty selector name");
  if (!factory) throw std::logic_error("selector registry: null factory for '" + name + "'");
  if (contains(name)) {
    throw std::logic_error("selector registry: selector '" + name + "' registered twice");
  }
  entries_.emplace_back(name, std::move(factory));
}

std::unique_ptr<Selector> SelectorRegistry::create(const std::string& name,
                                                   const SelectorOptions& options) const {
  for (const auto& entry : entries_) {
    if (entry.first == name) {
      auto selector = entry.second(options);
      if (!selector) throw SelectionError("selector factory for '" + name + "' returned null");
      return selector;
    }
  }
  std::string known;
  for (const auto& n : names()) known += (known.empty() ? "" : ", ") + n;
  throw SelectionError("unknown selector '" + name + "'; known selectors: " +
                       (known.empty() ? std::string("(none)") : known));
}

std::vector<std::string> SelectorRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& entry : entries_) out.push_back(entry.first);
  std::sort(out.begin(), out.end());
  return out;
}

bool SelectorRegistry::contains(const std::string& name) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const auto& entry) { return entry.first == name; });
}

// ---------------------------------------------------------------------------------------------
// Helpers

std::vector<uint8_t> block_mask(const BlockGrid& grid, const std::vector<Block>& blocks) {
  std::vector<uint8_t> mask(static_cast<size_t>(grid.rows * grid.cols), 0);
  const int64_t bh = grid.shape.rows, bw = grid.shape.cols;
  for (const Block& b : blocks) {
    check_in_grid(grid, b);
    // Clip to the real matrix: padding cells are never part of the mask.
    const int64_t r_end = std::min(b.start_row + bh, grid.rows);
    const int64_t c_begin = b.col_group * bw;
    const int64_t c_end = std::min(c_begin + bw, grid.cols);
    for (int64_t r = b.start_row; r < r_end; ++r) {
      for (int64_t c = c_begin; c < c_end; ++c) mask[static_cast<size_t>(r * grid.cols + c)] = 1;
    }
  }
  return mask;
}

void validate_blocks(const BlockGrid& grid, const std::vector<Block>& blocks,
                     bool require_aligned) {
  const int64_t bh = grid.shape.rows;
  for (const Block& b : blocks) {
    check_in_grid(grid, b);
    if (require_aligned && b.start_row % bh != 0) {
      throw SelectionError(describe(b) + ": start_row is not a multiple of bh=" +
                           std::to_string(bh) + " (aligned selection required)");
    }
  }
  // Overlaps (a duplicate is an overlap): in one column group, sorted by start row, each block
  // must start at or after the end of the previous one.
  std::vector<Block> sorted = blocks;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 1; i < sorted.size(); ++i) {
    const Block& prev = sorted[i - 1];
    const Block& cur = sorted[i];
    if (cur.col_group == prev.col_group && cur.start_row < prev.start_row + bh) {
      throw SelectionError(describe(cur) + " overlaps " + describe(prev) +
                           (cur == prev ? " (duplicate)" : "") + " with bh=" + std::to_string(bh));
    }
  }
}

void score_selection(MatrixView importance, const BlockGrid& grid, SelectionResult& result) {
  if (importance.rows != grid.rows || importance.cols != grid.cols) {
    throw SelectionError("score_selection: importance is " + std::to_string(importance.rows) +
                         "x" + std::to_string(importance.cols) + " but the grid is " +
                         std::to_string(grid.rows) + "x" + std::to_string(grid.cols));
  }
  // Through the mask, so that every real cell counts once even if blocks were to overlap.
  const std::vector<uint8_t> mask = block_mask(grid, result.blocks);
  double total = 0, retained = 0;
  int64_t kept = 0;
  for (int64_t r = 0; r < grid.rows; ++r) {
    for (int64_t c = 0; c < grid.cols; ++c) {
      const double v = importance(r, c);
      total += v;
      if (mask[static_cast<size_t>(r * grid.cols + c)]) {
        retained += v;
        ++kept;
      }
    }
  }
  result.total_importance = total;
  result.retained_importance = retained;
  result.kept_cells = kept;
}

}  // namespace ubp::algorithms
