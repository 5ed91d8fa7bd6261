// Kernels of the layers around the 1x1 convolutions: depthwise 3x3 (stride 1 and 2), global
// average pooling and the fully connected classifier, each with a scalar reference.
//
// Layout: channel-major, as everywhere in kernels/ (one image, C planes of H x W floats). The
// depthwise and pooling kernels read one plane per channel and write one plane, so the 1x1
// kernels' C x HW layout flows through without transposes; kernels/README.md says why we keep
// one layout rather than switch to NHWC around the depthwise layers.
//
// SIMD kernels use Google Highway like spmm.h (dynamic dispatch over simd_targets(), or the
// compile-time target). `pool` may be nullptr. Work is split by channel (depthwise, pooling) or
// output row (fully connected), never inside one output's sum, so results are bitwise identical
// for any thread count. Bad arguments throw std::invalid_argument naming the kernel and value.
#pragma once

#include <cstdint>

#include "ubp/kernels/common.h"
#include "ubp/kernels/thread_pool.h"

namespace ubp::kernels {

// Depthwise 3x3, zero padding 1, stride 1 or 2:
//   y[c][oy][ox] = act(b[c] + sum_{ky,kx} w[c][ky][kx] x[c][s*oy + ky - 1][s*ox + kx - 1]).
// w: C x 9 (PyTorch's [C][1][3][3]), bias: C floats or nullptr. y: C x OH x OW with
// OH = (H - 1) / s + 1, OW = (W - 1) / s + 1. x and y must not overlap.
void depthwise3x3(const float* w, const float* bias, int64_t channels, int64_t height,
                  int64_t width, int stride, const float* x, float* y,
                  Activation act = Activation::kNone, ThreadPool* pool = nullptr);
// Output rows [oy0, oy1) of every channel (0 <= oy0 < oy1 <= OH), in the calling thread; the
// other rows of y are left alone. Bitwise the same rows as depthwise3x3: for a caller that splits
// a layer by rows itself (the engine's fused depthwise + 1x1 step).
void depthwise3x3_rows(const float* w, const float* bias, int64_t channels, int64_t height,
                       int64_t width, int stride, const float* x, float* y, int64_t oy0,
                       int64_t oy1, Activation act = Activation::kNone);
void depthwise3x3_reference(const float* w, const float* bias, int64_t channels, int64_t height,
                            int64_t width, int stride, const float* x, float* y,
                            Activation act = Activation::kNone);

// y[c] = act(mean of the hw floats of channel c).
void global_average_pool(int64_t channels, int64_t hw, const float* x, float* y,
                         Activation act = Activation::kNone, ThreadPool* pool = nullptr);
// Accumulates in double.
void global_average_pool_reference(int64_t channels, int64_t hw, const float* x, float* y,
                                   Activation act = Activation::kNone);

// y[o] = act(b[o] + sum_i w[o][i] x[i]); w: out x in row-major, bias: out floats or nullptr.
void fully_connected(const float* w, const float* bias, int64_t out, int64_t in, const float* x,
                     float* y, Activation act = Activation::kNone, ThreadPool* pool = nullptr);
// Accumulates in double.
void fully_connected_reference(const float* w, const float* bias, int64_t out, int64_t in,
                               const float* x, float* y, Activation act = Activation::kNone);

// Direct k x k convolution, stride 1 or 2, zero padding p (0 <= p <= k / 2), for layers with
// few input channels (the first convolution: im2col would write Cin*k*k rows per pixel for a
// product with K = 27):
//   y[co][oy][ox] = act(b[co] + sum_{ci,ky,kx} w[co][ci][ky][kx] x[ci][s*oy + ky - p][s*ox + kx - p]).
// w: PyTorch's [Cout][Cin][k][k]; bias: Cout floats or nullptr. y: Cout x OH x OW with
// OH = (H + 2p - k) / s + 1. Split by bands of output rows. Scratch: a thread-local buffer of
// Cin x (7s + k) x (W + 2p + 70) floats per thread at most.
void conv_direct(const float* w, const float* bias, int64_t out_channels, int64_t in_channels,
                 int64_t height, int64_t width, int kernel, int stride, int padding,
                 const float* x, float* y, Activation act = Activation::kNone,
                 ThreadPool* pool = nullptr);
// Accumulates in double.
void conv_direct_reference(const float* w, const float* bias, int64_t out_channels,
                           int64_t in_channels, int64_t height, int64_t width, int kernel,
                           int stride, int padding, const float* x, float* y,
                           Activation act = Activation::kNone);

// k x k max pooling, stride 1 or 2, padding p (0 <= p <= k / 2; padding never wins). Output
// C x OH x OW as for conv_direct. Split by bands of output rows.
void max_pool(int64_t channels, int64_t height, int64_t width, int kernel, int stride,
              int padding, const float* x, float* y, ThreadPool* pool = nullptr);
void max_pool_reference(int64_t channels, int64_t height, int64_t width, int kernel, int stride,
                        int padding, const float* x, float* y);

}  // namespace ubp::kernels
