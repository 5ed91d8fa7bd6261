// XNNPACK as a comparison point: its channel-major (NCHW) 1x1 convolution, which XNNPACK
// implements with its sparse-matrix (SpMM) micro-kernels, run on the same pruned weights as
// our kernels.
//
// How XNNPACK is driven (Debian's libxnnpack-dev, a 2022 snapshot; API from /usr/include/xnnpack.h):
//   xnn_initialize(nullptr)                                 once per process
//   xnn_create_convolution2d_nchw_f32(no padding, 1x1 kernel, stride 1, dilation 1, 1 group,
//       K input channels, Cout output channels, channel strides K / Cout, the dense Cout x K
//       weights with their zeros, bias, output clamp, flags 0)
//                                                           one operator per weight copy; XNNPACK
//                                                           packs the non-zeros at creation
//   xnn_setup_convolution2d_nchw_f32(batch 1, H x W = HW, X, Y, threadpool)
//   xnn_run_operator(op, threadpool)                        the timed call
// The threadpool is pthreadpool_create(threads) for threads > 1 and none (the caller's thread)
// for one thread.
//
// What XNNPACK does with it (from XNNPACK's public source; the choice is not observable through
// the API): an unpadded, stride-1, single-group 1x1 NCHW convolution ALWAYS takes the SpMM path,
// whatever the sparsity. There is no dense fallback at this level (that decision belongs to
// XNNPACK's subgraph API, which converts a model to NCHW only when enough 1x1 weights are zero;
// we bypass it on purpose). The operator counts the non-zero weights by value and packs them as
// values + input-channel deltas + per-channel counts + bias. It would group 2 or 4 output
// channels when nearly all of their values are non-zero AND the architecture has such a
// micro-kernel: on aarch64 it has; on x86 there is only the single-channel SSE kernel with
// 32 pixels per tile (f32_spmm_minmax_ukernel_32x1__sse), so on this machine XNNPACK runs
// every pattern, aligned or not, one output channel at a time with 4-wide vectors.
//
// Refusals: any non-success status from those calls becomes an XnnpackError naming the call
// and the status (invalid or unsupported parameters, hardware
// XNNPACK does not support, out of memory). On this machine no benchmark case is refused. The
// caller should still compare the output with a reference (the benchmark does, once per case).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ubp::kernels::bench {

// XNNPACK refused or failed; what() names the call and XNNPACK's status.
class XnnpackError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Name of an xnn_status value ("xnn_status_unsupported_parameter", ...).
std::string xnnpack_status_name(int status);

// xnn_initialize once per process; throws XnnpackError when XNNPACK refuses this machine.
void xnnpack_initialize();

// Y[Cout][HW] = clamp(W[Cout][K] X[K][HW] + b, out_min, out_max) through XNNPACK's NCHW
// convolution. Holds `copies` operators built from the same weights (each with its own packed
// copy of them), so a benchmark can rotate among them and keep the weights out of the caches.
class XnnpackSparse1x1 {
 public:
  struct Shape {
    int64_t cout = 0, k = 0, hw = 0;
  };

  // weights: Cout x K row-major (zeros included), bias: Cout values; both are copied by XNNPACK.
  // Throws XnnpackError (with the failing call and status) or std::invalid_argument.
  XnnpackSparse1x1(Shape shape, const float* weights, const float* bias, float out_min,
                   float out_max, int threads, int copies);
  ~XnnpackSparse1x1();
  XnnpackSparse1x1(const XnnpackSparse1x1&) = delete;
  XnnpackSparse1x1& operator=(const XnnpackSparse1x1&) = delete;

  // Binds every copy to input X (K x HW; XNNPACK may read up to 16 bytes past its end, so the
  // buffer must have that much slack: see kInputSlackFloats) and output Y (Cout x HW).
  void setup(const float* x, float* y);

  // Runs copy `index` (0 <= index < copies()); throws XnnpackError on failure.
  void run(int index);

  int copies() const { return static_cast<int>(ops_.size()); }
  int threads() const { return threads_; }
  const Shape& shape() const { return shape_; }

  static constexpr int64_t kInputSlackFloats = 4;  // XNN_EXTRA_BYTES / sizeof(float)

 private:
  Shape shape_;
  int threads_ = 1;
  int64_t height_ = 0, width_ = 0;  // a factorisation of HW used for the NCHW view
  void* pool_ = nullptr;            // pthreadpool_t
  std::vector<void*> ops_;          // xnn_operator_t
};

}  // namespace ubp::kernels::bench
