// Builders and unpacking of the packed block-sparse formats (see packed.h for the layout).
#include "ubp/kernels/packed.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace ubp::kernels {
namespace {

std::string describe(const char* fn, int64_t index, const Block& b) {
  return std::string(fn) + ": block #" + std::to_string(index) + " (col_group " +
         std::to_string(b.col_group) + ", start_row " + std::to_string(b.start_row) + ")";
}

struct Checked {
  PackedGeometry geom;
  int64_t col_groups = 0;
  std::vector<int64_t> order;  // block indices sorted by (start step row, col_group)
};

// Validates arguments and blocks; `aligned` adds the start_row % bh == 0 rule.
Checked check(const char* fn, const float* w, int64_t rows, int64_t cols, BlockShape shape,
              const std::vector<Block>& blocks, bool aligned) {
  const int bh = shape.rows, bw = shape.cols;
  if (bh != 1 && bh != 2 && bh != 4 && bh != 8) {
    throw std::invalid_argument(std::string(fn) + ": block height bh = " + std::to_string(bh) +
                                " is not supported (accepted: 1, 2, 4, 8)");
  }
  if (bw < 1) {
    throw std::invalid_argument(std::string(fn) + ": block width bw = " + std::to_string(bw) +
                                " must be >= 1");
  }
  if (rows < 1 || cols < 1) {
    throw std::invalid_argument(std::string(fn) + ": weight matrix " + std::to_string(rows) +
                                " x " + std::to_string(cols) + " must have rows >= 1, cols >= 1");
  }
  if (cols > std::numeric_limits<int32_t>::max()) {
    throw std::invalid_argument(std::string(fn) + ": cols = " + std::to_string(cols) +
                                " exceeds the format's 32-bit column offsets");
  }
  if (w == nullptr) throw std::invalid_argument(std::string(fn) + ": weights pointer is null");

  Checked c;
  c.geom.rows = rows;
  c.geom.cols = cols;
  c.geom.shape = shape;
  c.geom.padded_rows = (rows + bh - 1) / bh * bh;
  c.geom.num_blocks = static_cast<int64_t>(blocks.size());
  c.col_groups = (cols + bw - 1) / bw;

  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    if (b.col_group < 0 || b.col_group >= c.col_groups) {
      throw std::invalid_argument(describe(fn, static_cast<int64_t>(i), b) +
                                  " is out of range: col_group must be in [0, " +
                                  std::to_string(c.col_groups) + ") for " + std::to_string(cols) +
                                  " columns and bw = " + std::to_string(bw));
    }
    if (b.start_row < 0 || b.start_row > c.geom.padded_rows - bh) {
      throw std::invalid_argument(describe(fn, static_cast<int64_t>(i), b) +
                                  " is out of range: start_row must be in [0, " +
                                  std::to_string(c.geom.padded_rows - bh) + "] for " +
                                  std::to_string(rows) + " rows padded to " +
                                  std::to_string(c.geom.padded_rows) + " and bh = " +
                                  std::to_string(bh));
    }
    if (aligned && b.start_row % bh != 0) {
      throw std::invalid_argument(describe(fn, static_cast<int64_t>(i), b) +
                                  " is misaligned: the aligned format needs start_row to be a "
                                  "multiple of bh = " + std::to_string(bh) +
                                  " (use pack_unaligned for unaligned blocks)");
    }
  }

  // Overlap: sort by (col_group, start_row); neighbours in one group must be >= bh apart.
  std::vector<int64_t> by_group(blocks.size());
  std::iota(by_group.begin(), by_group.end(), 0);
  std::sort(by_group.begin(), by_group.end(), [&](int64_t a, int64_t b) {
    const Block& x = blocks[a];
    const Block& y = blocks[b];
    if (x.col_group != y.col_group) return x.col_group < y.col_group;
    if (x.start_row != y.start_row) return x.start_row < y.start_row;
    return a < b;
  });
  for (size_t j = 1; j < by_group.size(); ++j) {
    const Block& prev = blocks[by_group[j - 1]];
    const Block& cur = blocks[by_group[j]];
    if (cur.col_group == prev.col_group && cur.start_row < prev.start_row + bh) {
      const int64_t hi = std::max(by_group[j - 1], by_group[j]);
      const int64_t lo = std::min(by_group[j - 1], by_group[j]);
      throw std::invalid_argument(
          describe(fn, hi, blocks[hi]) + " overlaps " +
          describe(fn, lo, blocks[lo]).substr(std::string(fn).size() + 2) +
          (cur.start_row == prev.start_row ? " (duplicate block)" : "") +
          ": blocks of one column group must not share rows (bh = " + std::to_string(bh) + ")");
    }
  }

  // Storage order: by step row (block-row or start row), then column.
  c.order = std::move(by_group);
  const int64_t step = aligned ? bh : 1;
  std::sort(c.order.begin(), c.order.end(), [&](int64_t a, int64_t b) {
    const Block& x = blocks[a];
    const Block& y = blocks[b];
    const int64_t sx = x.start_row / step, sy = y.start_row / step;
    if (sx != sy) return sx < sy;
    return x.col_group < y.col_group;
  });
  return c;
}

// Common packing: `lane_row(start, s)` gives the row whose weight goes to lane s.
template <class Packed, class LaneRow>
Packed build(const char* fn, const float* w, const float* bias, int64_t rows, int64_t cols,
             BlockShape shape, const std::vector<Block>& blocks, bool aligned, LaneRow lane_row) {
  Checked c = check(fn, w, rows, cols, shape, blocks, aligned);
  const int bh = shape.rows, bw = shape.cols;
  const int64_t step = aligned ? bh : 1;
  const int64_t steps = c.geom.padded_rows / step;

  Packed p;
  p.bias.assign(static_cast<size_t>(c.geom.padded_rows + bh), 0.0f);
  if (bias != nullptr) std::copy(bias, bias + rows, p.bias.begin());
  p.counts.assign(static_cast<size_t>(steps), 0);
  p.row_begin.assign(static_cast<size_t>(steps + 1), 0);
  p.row_col.assign(static_cast<size_t>(steps), 0);

  std::vector<int32_t> vec_cols;
  vec_cols.reserve(blocks.size() * static_cast<size_t>(bw));
  p.weights.reserve((blocks.size() * static_cast<size_t>(bw) + 1) * static_cast<size_t>(bh));
  int64_t kept = 0;
  for (int64_t idx : c.order) {
    const Block& b = blocks[idx];
    const int64_t srow = b.start_row / step;
    const int64_t c0 = b.col_group * bw;
    const int64_t c1 = std::min<int64_t>(c0 + bw, cols);  // padding columns are dropped
    const int64_t real_rows = std::min<int64_t>(b.start_row + bh, rows) - b.start_row;
    kept += std::max<int64_t>(real_rows, 0) * (c1 - c0);
    for (int64_t col = c0; col < c1; ++col) {
      for (int s = 0; s < bh; ++s) {
        const int64_t r = lane_row(b.start_row, s);
        p.weights.push_back(r < rows ? w[r * cols + col] : 0.0f);
      }
      vec_cols.push_back(static_cast<int32_t>(col));
      ++p.counts[static_cast<size_t>(srow)];
    }
  }
  const int64_t nvec = static_cast<int64_t>(vec_cols.size());
  p.weights.insert(p.weights.end(), static_cast<size_t>(bh), 0.0f);  // pipelined-load padding
  p.deltas.assign(static_cast<size_t>(nvec + 1), 0);
  for (int64_t i = 0; i + 1 < nvec; ++i) p.deltas[i] = vec_cols[i + 1] - vec_cols[i];
  for (int64_t s = 0; s < steps; ++s) p.row_begin[s + 1] = p.row_begin[s] + p.counts[s];
  int32_t col_here = nvec > 0 ? vec_cols[0] : 0;
  for (int64_t s = 0; s < steps; ++s) {
    if (p.row_begin[s] < nvec) col_here = vec_cols[static_cast<size_t>(p.row_begin[s])];
    p.row_col[s] = col_here;
  }
  c.geom.num_vectors = nvec;
  c.geom.kept_cells = kept;
  p.geom = c.geom;
  return p;
}

// Walks the stored vectors: f(step_row, column, weights pointer).
template <class Packed, class F>
void for_each_vector(const Packed& p, F f) {
  const int bh = p.geom.shape.rows;
  for (int64_t s = 0; s < p.step_rows(); ++s) {
    int64_t col = p.row_col[s];
    for (int64_t i = p.row_begin[s]; i < p.row_begin[s + 1]; ++i) {
      f(s, col, &p.weights[static_cast<size_t>(i * bh)]);
      col += p.deltas[static_cast<size_t>(i)];
    }
  }
}

template <class Packed>
int64_t packed_bytes(const Packed& p) {
  return static_cast<int64_t>(p.bias.size() * sizeof(float) + p.counts.size() * sizeof(int32_t) +
                              p.weights.size() * sizeof(float) +
                              p.deltas.size() * sizeof(int32_t) +
                              p.row_begin.size() * sizeof(int64_t) +
                              p.row_col.size() * sizeof(int32_t));
}

}  // namespace

AlignedPacked pack_aligned(const float* w, const float* bias, int64_t rows, int64_t cols,
                           BlockShape shape, const std::vector<Block>& blocks) {
  return build<AlignedPacked>("pack_aligned", w, bias, rows, cols, shape, blocks, true,
                              [](int64_t start, int s) { return start + s; });
}

UnalignedPacked pack_unaligned(const float* w, const float* bias, int64_t rows, int64_t cols,
                               BlockShape shape, const std::vector<Block>& blocks) {
  const int bh = shape.rows;
  // Lane s feeds ring slot s, i.e. the row r in [start, start + bh) with r mod bh == s.
  return build<UnalignedPacked>(
      "pack_unaligned", w, bias, rows, cols, shape, blocks, false, [bh](int64_t start, int s) {
        const int64_t k = ((s - start) % bh + bh) % bh;
        return start + k;
      });
}

std::vector<float> unpack(const AlignedPacked& p) {
  std::vector<float> out(static_cast<size_t>(p.geom.rows * p.geom.cols), 0.0f);
  const int bh = p.geom.shape.rows;
  for_each_vector(p, [&](int64_t br, int64_t col, const float* wv) {
    for (int s = 0; s < bh; ++s) {
      const int64_t r = br * bh + s;
      if (r < p.geom.rows) out[static_cast<size_t>(r * p.geom.cols + col)] = wv[s];
    }
  });
  return out;
}

std::vector<float> unpack(const UnalignedPacked& p) {
  std::vector<float> out(static_cast<size_t>(p.geom.rows * p.geom.cols), 0.0f);
  const int bh = p.geom.shape.rows;
  for_each_vector(p, [&](int64_t start, int64_t col, const float* wv) {
    for (int k = 0; k < bh; ++k) {
      const int64_t r = start + k;
      if (r < p.geom.rows) out[static_cast<size_t>(r * p.geom.cols + col)] = wv[r % bh];
    }
  });
  return out;
}

std::vector<float> unpack_bias(const AlignedPacked& p) {
  return std::vector<float>(p.bias.begin(), p.bias.begin() + p.geom.rows);
}
std::vector<float> unpack_bias(const UnalignedPacked& p) {
  return std::vector<float>(p.bias.begin(), p.bias.begin() + p.geom.rows);
}

int64_t AlignedPacked::bytes() const { return packed_bytes(*this); }
int64_t UnalignedPacked::bytes() const { return packed_bytes(*this); }

DensePacked pack_dense(const float* w, const float* bias, int64_t rows, int64_t cols) {
  if (rows < 1 || cols < 1) {
    throw std::invalid_argument("pack_dense: weight matrix " + std::to_string(rows) + " x " +
                                std::to_string(cols) + " must have rows >= 1, cols >= 1");
  }
  if (w == nullptr) throw std::invalid_argument("pack_dense: weights pointer is null");
  constexpr int R = kDensePanelRows;
  const int64_t panels = (rows + R - 1) / R;
  DensePacked d;
  d.rows = rows;
  d.cols = cols;
  d.panels.assign(static_cast<size_t>(panels * R * cols), 0.0f);
  d.bias.assign(static_cast<size_t>(panels * R), 0.0f);
  if (bias != nullptr) std::copy(bias, bias + rows, d.bias.begin());
  for (int64_t r = 0; r < rows; ++r) {
    float* panel = &d.panels[static_cast<size_t>((r / R) * R * cols)];
    for (int64_t k = 0; k < cols; ++k) panel[k * R + r % R] = w[r * cols + k];
  }
  return d;
}

}  // namespace ubp::kernels
