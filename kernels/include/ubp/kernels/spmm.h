// Block-sparse and dense kernels: Y = act(W X + b).
//
// Layout (channel-major, as NCHW activations of one image): X is K x HW row-major (K rows of HW
// floats), Y is Cout x HW row-major. Pointers need no particular alignment; x and y must not
// overlap. HW >= 1. `pool` may be nullptr (run in the calling thread). Results are bitwise
// identical for any thread count.
//
// SIMD kernels use Google Highway and pick the best target at run time (AVX-512, AVX2, ...;
// NEON on aarch64), or the compile-time target in a UBP_KERNELS_STATIC_DISPATCH build.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ubp/kernels/common.h"
#include "ubp/kernels/im2col.h"
#include "ubp/kernels/packed.h"
#include "ubp/kernels/thread_pool.h"

namespace ubp::kernels {

// ---- Block-sparse (SpMM) ------------------------------------------------------------------
// Aligned kernel: block-rows of bh output channels, MR pixels per tile.
void spmm_aligned(const AlignedPacked& w, const float* x, int64_t hw, float* y,
                  Activation act = Activation::kNone, ThreadPool* pool = nullptr);
// Unaligned WROS kernel: single-row steps, ring of bh accumulator sets.
void spmm_unaligned(const UnalignedPacked& w, const float* x, int64_t hw, float* y,
                    Activation act = Activation::kNone, ThreadPool* pool = nullptr);

// Naive unaligned kernel on the same packed arrays, without WROS's output ring: the output rows
// are set to the bias, then each start row's blocks are accumulated onto the bh rows they cover
// (loaded from and stored back to y), then the activation is applied. Bitwise equal to
// spmm_unaligned; it exists to measure what the ring (and the rotation it needs) is worth.
void spmm_unaligned_naive(const UnalignedPacked& w, const float* x, int64_t hw, float* y,
                          Activation act = Activation::kNone, ThreadPool* pool = nullptr);

// Scalar references (plain loops over the packed formats, one thread).
void spmm_aligned_reference(const AlignedPacked& w, const float* x, int64_t hw, float* y,
                            Activation act = Activation::kNone);
// (spmm_unaligned_reference is the reference of both unaligned kernels.)
void spmm_unaligned_reference(const UnalignedPacked& w, const float* x, int64_t hw, float* y,
                              Activation act = Activation::kNone);

// ---- Dense -------------------------------------------------------------------------------
// Scalar reference on the plain row-major weights (w: rows x cols, bias: rows or nullptr);
// accumulates in double.
void dense_reference(const float* w, const float* bias, int64_t rows, int64_t cols,
                     const float* x, int64_t hw, float* y, Activation act = Activation::kNone);
// dense-ours: our SIMD GEMM on pre-packed weights (pack_dense).
void dense_ours(const DensePacked& w, const float* x, int64_t hw, float* y,
                Activation act = Activation::kNone, ThreadPool* pool = nullptr);
// A k x k convolution through dense-ours: y = w * im2col(g, x), the column matrix packed tile by
// tile straight from the image (x: Cin x H x W) instead of written out first; bitwise equal to
// im2col then dense_ours, for any thread count. w: Cout x Cin*k*k.
void dense_conv_ours(const DensePacked& w, const ConvGeometry& g, const float* x, float* y,
                     Activation act = Activation::kNone, ThreadPool* pool = nullptr);
// dense-blas: OpenBLAS cblas_sgemm, then bias + activation in one pass. OpenBLAS threads are a
// process-wide setting: this sets them to `threads` (>= 1) for the call.
void dense_blas(const float* w, const float* bias, int64_t rows, int64_t cols, const float* x,
                int64_t hw, float* y, Activation act = Activation::kNone, int threads = 1);

// ---- One caller's share ----------------------------------------------------------------------
// Output pixels [p0, p1) of the product above (0 <= p0 < p1 <= hw), every output channel, in the
// calling thread; the other pixels of y are left alone. Each pixel's value is bitwise the one
// the whole product gives it. For a caller that splits pixels itself (the engine's fused
// depthwise + 1x1 step, where each thread multiplies the pixels it has just computed).
void spmm_aligned_pixels(const AlignedPacked& w, const float* x, int64_t hw, float* y,
                         int64_t p0, int64_t p1, Activation act = Activation::kNone);
void spmm_unaligned_pixels(const UnalignedPacked& w, const float* x, int64_t hw, float* y,
                           int64_t p0, int64_t p1, Activation act = Activation::kNone);
void spmm_unaligned_naive_pixels(const UnalignedPacked& w, const float* x, int64_t hw, float* y,
                                 int64_t p0, int64_t p1, Activation act = Activation::kNone);
void dense_ours_pixels(const DensePacked& w, const float* x, int64_t hw, float* y, int64_t p0,
                       int64_t p1, Activation act = Activation::kNone);

// ---- Information ---------------------------------------------------------------------------
// Highway target the SIMD kernels run on ("AVX3", "AVX2", "NEON", ...).
std::string simd_target();
// Highway targets this build can run on this CPU, best first (e.g. {"AVX3", "AVX2", "SSE4",
// "SSSE3", "EMU128"}); one entry in a UBP_KERNELS_STATIC_DISPATCH build.
std::vector<std::string> simd_targets();
// Makes the SIMD kernels use one of simd_targets() (tests, benchmarks); "" restores the
// automatic choice. Process-wide; do not call while kernels run. Throws std::invalid_argument
// for a name not in simd_targets().
void set_simd_target(const std::string& name);
// Pixels per tile (MR) of the sparse kernels for block height bh on that target.
int64_t spmm_pixel_tile(int bh);
// True when this build has dense_blas (OpenBLAS found at configure time); dense_blas throws
// std::runtime_error otherwise.
bool have_blas();

}  // namespace ubp::kernels
