// Scalar references: plain loops over the packed formats and over dense weights.
#include <vector>

#include "act.h"
#include "ubp/kernels/spmm.h"

namespace ubp::kernels {

using detail::activation_hi;
using detail::activation_lo;
using detail::apply_activation;

namespace {

// `row_of(step_row, lane)` maps a stored weight to its output row.
template <class Packed, class RowOf>
void reference_impl(const char* fn, const Packed& p, const float* x, int64_t hw, float* y,
                    Activation act, RowOf row_of) {
  detail::check_call(fn, x, hw, y);
  const int bh = p.geom.shape.rows;
  const int64_t rows = p.geom.rows;
  // Accumulate into a padded buffer so padding rows need no special case.
  std::vector<float> acc(static_cast<size_t>(p.geom.padded_rows * hw));
  for (int64_t r = 0; r < p.geom.padded_rows; ++r) {
    for (int64_t i = 0; i < hw; ++i) acc[r * hw + i] = p.bias[r];
  }
  for (int64_t s = 0; s < p.step_rows(); ++s) {
    int64_t col = p.row_col[s];
    for (int64_t v = p.row_begin[s]; v < p.row_begin[s + 1]; ++v) {
      const float* wv = &p.weights[static_cast<size_t>(v * bh)];
      const float* xr = x + col * hw;
      for (int lane = 0; lane < bh; ++lane) {
        float* ar = &acc[static_cast<size_t>(row_of(s, lane) * hw)];
        const float wl = wv[lane];
        for (int64_t i = 0; i < hw; ++i) ar[i] += wl * xr[i];
      }
      col += p.deltas[static_cast<size_t>(v)];
    }
  }
  const float lo = activation_lo(act), hi = activation_hi(act);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < hw; ++i) y[r * hw + i] = apply_activation(acc[r * hw + i], lo, hi);
  }
}

}  // namespace

void spmm_aligned_reference(const AlignedPacked& w, const float* x, int64_t hw, float* y,
                            Activation act) {
  const int bh = w.geom.shape.rows;
  reference_impl("spmm_aligned_reference", w, x, hw, y, act,
                 [bh](int64_t br, int lane) { return br * bh + lane; });
}

void spmm_unaligned_reference(const UnalignedPacked& w, const float* x, int64_t hw, float* y,
                              Activation act) {
  const int bh = w.geom.shape.rows;
  // Lane s holds the row r in [start, start + bh) with r mod bh == s.
  reference_impl("spmm_unaligned_reference", w, x, hw, y, act, [bh](int64_t start, int lane) {
    return start + ((lane - start) % bh + bh) % bh;
  });
}

void dense_reference(const float* w, const float* bias, int64_t rows, int64_t cols,
                     const float* x, int64_t hw, float* y, Activation act) {
  detail::check_call("dense_reference", x, hw, y);
  const float lo = activation_lo(act), hi = activation_hi(act);
  std::vector<double> acc(static_cast<size_t>(hw));
  for (int64_t r = 0; r < rows; ++r) {
    const double b = bias != nullptr ? bias[r] : 0.0;
    std::fill(acc.begin(), acc.end(), b);
    for (int64_t k = 0; k < cols; ++k) {
      const double wk = w[r * cols + k];
      if (wk == 0.0) continue;
      const float* xr = x + k * hw;
      for (int64_t i = 0; i < hw; ++i) acc[i] += wk * xr[i];
    }
    for (int64_t i = 0; i < hw; ++i) {
      y[r * hw + i] = apply_activation(static_cast<float>(acc[i]), lo, hi);
    }
  }
}

}  // namespace ubp::kernels
