// im2col for k x k convolutions into the kernels' K x HW layout.
#pragma once

#include <cstdint>

#include "ubp/kernels/thread_pool.h"

namespace ubp::kernels {

struct ConvGeometry {
  int64_t channels = 0;  // Cin
  int64_t height = 0, width = 0;
  int kernel = 1;        // k (square k x k)
  int stride = 1;
  int padding = 0;       // zero padding on every side
  int64_t out_height() const;  // (height + 2*padding - kernel) / stride + 1
  int64_t out_width() const;
  int64_t rows() const { return channels * kernel * kernel; }   // K = Cin*k*k
  int64_t cols() const { return out_height() * out_width(); }   // HW of the output
  void validate() const;  // throws std::invalid_argument naming the bad field
};

// x: Cin x H x W (one image, channel-major). out: K x (OH*OW) row-major with K = Cin*k*k in
// (cin, ky, kx) order: out[(c*k + ky)*k + kx][oy*OW + ox] = x[c][oy*s + ky - pad][ox*s + kx - pad]
// (0 outside the image). Then a convolution with weights Cout x (Cin*k*k) (PyTorch's
// [Cout][Cin][k][k] flattened) is Y = W * out.
void im2col(const ConvGeometry& g, const float* x, float* out, ThreadPool* pool = nullptr);

// Any stretch of one row of im2col's output, read straight from the image, for kernels that pack
// the column matrix tile by tile instead of writing all of it first (dense_conv_ours). The
// geometry is checked once, in the constructor; copy() then only checks nothing.
class Im2colRows {
 public:
  // Throws std::invalid_argument for a bad geometry or a null image.
  Im2colRows(const ConvGeometry& g, const float* x);
  // out[i] = im2col(g, x)[row][p0 + i] for i in [0, count); needs row < rows() and
  // 0 <= p0 <= p0 + count <= cols().
  void copy(int64_t row, int64_t p0, int64_t count, float* out) const;
  const ConvGeometry& geometry() const { return g_; }

 private:
  ConvGeometry g_;
  const float* x_;
  int64_t out_width_;
};

}  // namespace ubp::kernels
