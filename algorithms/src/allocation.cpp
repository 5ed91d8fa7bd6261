// Per-layer block budgets: uniform and global allocation (see allocation.h for the rules).
#include "ubp/algorithms/allocation.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ubp::algorithms {
namespace {

// Shortest representation that reads back as v ("0.8", not "0.800000").
std::string fmt(double v) {
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string layer_label(const std::vector<AllocationLayer>& layers, size_t i) {
  return "layer " + std::to_string(i) + " ('" + layers[i].name + "')";
}

void check_fraction(double v, const char* what) {
  if (!(v >= 0.0 && v <= 1.0)) {  // also rejects NaN
    throw std::invalid_argument(std::string("allocate_blocks: ") + what + " must be in [0, 1], got " +
                                fmt(v));
  }
}

void validate(const std::vector<AllocationLayer>& layers, const AllocationOptions& o) {
  if (layers.empty()) throw std::invalid_argument("allocate_blocks: no layers given");
  if (o.shape.rows < 1 || o.shape.cols < 1) {
    throw std::invalid_argument("allocate_blocks: block shape must be at least 1x1, got " +
                                to_string(o.shape));
  }
  check_fraction(o.sparsity, "sparsity");
  check_fraction(o.min_sparsity, "min_sparsity");
  check_fraction(o.max_sparsity, "max_sparsity");
  if (o.min_sparsity > o.max_sparsity) {
    throw std::invalid_argument("allocate_blocks: min_sparsity " + fmt(o.min_sparsity) +
                                " is greater than max_sparsity " + fmt(o.max_sparsity));
  }
  if (o.mode != AllocationMode::kUniform && o.mode != AllocationMode::kGlobal) {
    throw std::invalid_argument("allocate_blocks: unknown allocation mode " +
                                std::to_string(static_cast<int>(o.mode)));
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < layers.size(); ++i) {
    const AllocationLayer& l = layers[i];
    if (l.name.empty()) {
      throw std::invalid_argument("allocate_blocks: layer " + std::to_string(i) + " has an empty name");
    }
    if (!seen.insert(l.name).second) {
      throw std::invalid_argument("allocate_blocks: duplicate layer name '" + l.name + "' (layer " +
                                  std::to_string(i) + ")");
    }
    const MatrixView& v = l.importance;
    if (v.rows < 1 || v.cols < 1) {
      throw std::invalid_argument("allocate_blocks: " + layer_label(layers, i) +
                                  " must be at least 1x1, got " + std::to_string(v.rows) + "x" +
                                  std::to_string(v.cols));
    }
    if (o.mode == AllocationMode::kGlobal) {
      if (v.data == nullptr) {
        throw std::invalid_argument("allocate_blocks: " + layer_label(layers, i) +
                                    " has no importance data (global allocation needs it)");
      }
      if (v.row_stride < v.cols) {
        throw std::invalid_argument("allocate_blocks: " + layer_label(layers, i) + " row_stride " +
                                    std::to_string(v.row_stride) + " < cols " +
                                    std::to_string(v.cols));
      }
    }
  }
}

// floor(cells * (1 - s) / area) with the same integer snapping as block_budget (blocks.cpp):
// a quotient within a relative 1e-9 of an integer counts as that integer.
int64_t floor_budget(long double cells, BlockShape shape, double sparsity) {
  const long double area = static_cast<long double>(shape.rows) * shape.cols;
  const long double x = cells * (1.0L - static_cast<long double>(sparsity)) / area;
  const long double nearest = std::nearbyint(x);
  const long double tol = 1e-9L * std::max<long double>(1.0L, std::fabs(x));
  const long double floored = std::fabs(x - nearest) <= tol ? nearest : std::floor(x);
  return std::max<int64_t>(0, static_cast<int64_t>(floored));
}

double nominal_sparsity(const LayerBudget& l, BlockShape shape) {
  const double cells = static_cast<double>(l.rows) * static_cast<double>(l.cols);
  return 1.0 - static_cast<double>(l.budget) * shape.rows * shape.cols / cells;
}

}  // namespace

AllocationMode allocation_mode_from_string(const std::string& name) {
  if (name == "uniform") return AllocationMode::kUniform;
  if (name == "global") return AllocationMode::kGlobal;
  throw std::invalid_argument("unknown allocation '" + name + "' (expected uniform or global)");
}

const char* to_string(AllocationMode mode) {
  switch (mode) {
    case AllocationMode::kUniform:
      return "uniform";
    case AllocationMode::kGlobal:
      return "global";
  }
  return "unknown";
}

const char* to_string(AllocationStatus status) {
  switch (status) {
    case AllocationStatus::kExact:
      return "exact";
    case AllocationStatus::kSaturatedLow:
      return "saturated-at-max-sparsity";
    case AllocationStatus::kSaturatedHigh:
      return "saturated-at-min-sparsity";
  }
  return "unknown";
}

std::vector<double> aligned_tile_scores(MatrixView importance, BlockShape shape) {
  const BlockGrid grid = make_grid(importance.rows, importance.cols, shape);
  if (importance.data == nullptr) throw std::invalid_argument("aligned_tile_scores: null data");
  if (importance.row_stride < importance.cols) {
    throw std::invalid_argument("aligned_tile_scores: row_stride " +
                                std::to_string(importance.row_stride) + " < cols " +
                                std::to_string(importance.cols));
  }
  const int64_t per_group = grid.aligned_tiles_per_group;
  const int64_t bh = shape.rows, bw = shape.cols;
  std::vector<double> score(static_cast<size_t>(grid.col_groups * per_group), 0.0);
  for (int64_t r = 0; r < importance.rows; ++r) {
    const float* row = importance.data + r * importance.row_stride;
    const int64_t tile_row = r / bh;
    for (int64_t c = 0; c < importance.cols; ++c) {
      score[static_cast<size_t>((c / bw) * per_group + tile_row)] += row[c];
    }
  }
  for (size_t i = 0; i < score.size(); ++i) {
    if (!std::isfinite(score[i])) {
      const int64_t t = static_cast<int64_t>(i);
      throw std::invalid_argument("aligned_tile_scores: importance is NaN or infinite in tile "
                                  "(col_group=" + std::to_string(t / per_group) +
                                  ", start_row=" + std::to_string((t % per_group) * bh) + ")");
    }
  }
  return score;
}

Allocation allocate_blocks(const std::vector<AllocationLayer>& layers,
                           const AllocationOptions& options) {
  validate(layers, options);
  const BlockShape shape = options.shape;

  Allocation out;
  out.mode = options.mode;
  out.shape = shape;
  out.layers.reserve(layers.size());
  long double total_cells = 0;
  for (const AllocationLayer& l : layers) {
    LayerBudget b;
    b.name = l.name;
    b.rows = l.importance.rows;
    b.cols = l.importance.cols;
    const BlockGrid grid = make_grid(b.rows, b.cols, shape);
    b.num_tiles = grid.col_groups * grid.aligned_tiles_per_group;
    b.min_budget = block_budget(b.rows, b.cols, shape, options.max_sparsity);
    b.max_budget = block_budget(b.rows, b.cols, shape, options.min_sparsity);
    out.layers.push_back(b);
    total_cells += static_cast<long double>(b.rows) * static_cast<long double>(b.cols);
  }

  if (options.mode == AllocationMode::kUniform) {
    const double s = std::clamp(options.sparsity, options.min_sparsity, options.max_sparsity);
    for (LayerBudget& b : out.layers) {
      b.budget = block_budget(b.rows, b.cols, shape, s);
      b.sparsity = nominal_sparsity(b, shape);
      out.target_budget += block_budget(b.rows, b.cols, shape, options.sparsity);
      out.total_budget += b.budget;
    }
    if (out.total_budget > out.target_budget) out.status = AllocationStatus::kSaturatedLow;
    if (out.total_budget < out.target_budget) out.status = AllocationStatus::kSaturatedHigh;
    out.threshold = 0;
    return out;
  }

  // ---- global ----
  out.target_budget = floor_budget(total_cells, shape, options.sparsity);
  int64_t sum_lo = 0, sum_hi = 0;
  for (const LayerBudget& b : out.layers) {
    sum_lo += b.min_budget;
    sum_hi += b.max_budget;
  }
  const auto finish = [&out, shape]() {
    out.total_budget = 0;
    for (LayerBudget& b : out.layers) {
      b.sparsity = nominal_sparsity(b, shape);
      out.total_budget += b.budget;
    }
  };
  out.threshold = std::numeric_limits<double>::infinity();
  if (sum_lo >= out.target_budget || sum_hi < out.target_budget) {
    // The clamps alone decide: saturation, or the target equals sum lo_l (then t = 0).
    const bool low = sum_lo >= out.target_budget;
    for (LayerBudget& b : out.layers) b.budget = low ? b.min_budget : b.max_budget;
    if (sum_lo > out.target_budget) out.status = AllocationStatus::kSaturatedLow;
    if (sum_hi < out.target_budget) out.status = AllocationStatus::kSaturatedHigh;
    finish();
    return out;
  }

  // Global tile index: offset[l] + tile index within layer l. Ascending global index is
  // exactly the tie order (layer, then tile), so one comparator gives the strict total order.
  std::vector<int64_t> offset(layers.size() + 1, 0);
  for (size_t l = 0; l < layers.size(); ++l) offset[l + 1] = offset[l] + out.layers[l].num_tiles;
  const int64_t num_tiles = offset.back();
  // (score, global index) pairs, sorted in place: contiguous, so the sort stays cache-friendly
  // on whole networks (ResNet-50 at 4x1 has ~6M tiles).
  std::vector<std::pair<double, int64_t>> order;
  order.reserve(static_cast<size_t>(num_tiles));
  for (size_t l = 0; l < layers.size(); ++l) {
    std::vector<double> s;
    try {
      s = aligned_tile_scores(layers[l].importance, shape);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("allocate_blocks: " + layer_label(layers, l) + ": " + e.what());
    }
    for (size_t i = 0; i < s.size(); ++i) {
      order.emplace_back(s[i], offset[l] + static_cast<int64_t>(i));
    }
  }
  std::sort(order.begin(), order.end(),
            [](const std::pair<double, int64_t>& a, const std::pair<double, int64_t>& b) {
              if (a.first != b.first) return a.first > b.first;
              return a.second < b.second;
            });

  // Walk the order; m_l(t) = clamp(c_l(t), lo_l, hi_l) grows exactly when lo_l < c_l <= hi_l.
  std::vector<int64_t> count(layers.size(), 0);
  int64_t sum = sum_lo;  // sum_lo < target here, so at least one step is taken
  for (size_t pos = 0; pos < order.size() && sum < out.target_budget; ++pos) {
    const int64_t g = order[pos].second;
    const size_t l = static_cast<size_t>(
        std::upper_bound(offset.begin(), offset.end(), g) - offset.begin() - 1);
    const int64_t c = ++count[l];
    if (c > out.layers[l].min_budget && c <= out.layers[l].max_budget) {
      ++sum;
      out.threshold = order[pos].first;
    }
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    LayerBudget& b = out.layers[l];
    b.budget = std::clamp(count[l], b.min_budget, b.max_budget);
  }
  finish();
  return out;
}

}  // namespace ubp::algorithms
