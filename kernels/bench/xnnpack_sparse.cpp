#include "xnnpack_sparse.h"

#include <pthreadpool.h>
#include <xnnpack.h>

#include <cmath>
#include <mutex>
#include <sstream>

namespace ubp::kernels::bench {

static_assert(XNN_EXTRA_BYTES <= XnnpackSparse1x1::kInputSlackFloats * sizeof(float),
              "kInputSlackFloats must cover XNN_EXTRA_BYTES");

std::string xnnpack_status_name(int status) {
  switch (status) {
    case xnn_status_success: return "xnn_status_success";
    case xnn_status_uninitialized: return "xnn_status_uninitialized";
    case xnn_status_invalid_parameter: return "xnn_status_invalid_parameter";
    case xnn_status_invalid_state: return "xnn_status_invalid_state";
    case xnn_status_unsupported_parameter: return "xnn_status_unsupported_parameter";
    case xnn_status_unsupported_hardware: return "xnn_status_unsupported_hardware";
    case xnn_status_out_of_memory: return "xnn_status_out_of_memory";
    default: return "xnn_status(" + std::to_string(status) + ")";
  }
}

namespace {

[[noreturn]] void fail(const char* call, xnn_status status, const XnnpackSparse1x1::Shape& s) {
  std::ostringstream msg;
  msg << "XNNPACK " << call << " failed for " << s.cout << "x" << s.k << "x" << s.hw << ": "
      << xnnpack_status_name(status);
  throw XnnpackError(msg.str());
}

// Splits HW into H x W, as square as HW allows, so the operator sees an ordinary image.
void factor_hw(int64_t hw, int64_t& h, int64_t& w) {
  int64_t best = 1;
  for (int64_t d = 1; d * d <= hw; ++d) {
    if (hw % d == 0) best = d;
  }
  h = hw / best;
  w = best;
}

}  // namespace

void xnnpack_initialize() {
  static std::once_flag once;
  static xnn_status status = xnn_status_uninitialized;
  std::call_once(once, [] { status = xnn_initialize(nullptr); });
  if (status != xnn_status_success) {
    throw XnnpackError("XNNPACK xnn_initialize failed on this machine: " +
                       xnnpack_status_name(status));
  }
}

XnnpackSparse1x1::XnnpackSparse1x1(Shape shape, const float* weights, const float* bias,
                                   float out_min, float out_max, int threads, int copies)
    : shape_(shape), threads_(threads) {
  if (shape.cout <= 0 || shape.k <= 0 || shape.hw <= 0) {
    throw std::invalid_argument("XnnpackSparse1x1: Cout, K and HW must be positive");
  }
  if (threads < 1) throw std::invalid_argument("XnnpackSparse1x1: threads must be >= 1");
  if (copies < 1) throw std::invalid_argument("XnnpackSparse1x1: copies must be >= 1");
  xnnpack_initialize();
  factor_hw(shape.hw, height_, width_);
  if (threads > 1) {
    pool_ = pthreadpool_create(static_cast<size_t>(threads));
    if (pool_ == nullptr) throw XnnpackError("pthreadpool_create failed");
  }
  ops_.reserve(static_cast<size_t>(copies));
  try {
    for (int i = 0; i < copies; ++i) {
      xnn_operator_t op = nullptr;
      const xnn_status status = xnn_create_convolution2d_nchw_f32(
          /*input_padding_top=*/0, /*right=*/0, /*bottom=*/0, /*left=*/0,
          /*kernel_height=*/1, /*kernel_width=*/1,
          /*subsampling_height=*/1, /*subsampling_width=*/1,
          /*dilation_height=*/1, /*dilation_width=*/1,
          /*groups=*/1,
          /*group_input_channels=*/static_cast<size_t>(shape.k),
          /*group_output_channels=*/static_cast<size_t>(shape.cout),
          /*input_channel_stride=*/static_cast<size_t>(shape.k),
          /*output_channel_stride=*/static_cast<size_t>(shape.cout), weights, bias, out_min,
          out_max, /*flags=*/0, &op);
      if (status != xnn_status_success) fail("xnn_create_convolution2d_nchw_f32", status, shape_);
      ops_.push_back(op);
    }
  } catch (...) {
    for (void* op : ops_) xnn_delete_operator(static_cast<xnn_operator_t>(op));
    ops_.clear();
    if (pool_ != nullptr) pthreadpool_destroy(static_cast<pthreadpool_t>(pool_));
    pool_ = nullptr;
    throw;
  }
}

XnnpackSparse1x1::~XnnpackSparse1x1() {
  for (void* op : ops_) xnn_delete_operator(static_cast<xnn_operator_t>(op));
  if (pool_ != nullptr) pthreadpool_destroy(static_cast<pthreadpool_t>(pool_));
}

void XnnpackSparse1x1::setup(const float* x, float* y) {
  for (void* op : ops_) {
    const xnn_status status = xnn_setup_convolution2d_nchw_f32(
        static_cast<xnn_operator_t>(op), /*batch_size=*/1, static_cast<size_t>(height_),
        static_cast<size_t>(width_), x, y, static_cast<pthreadpool_t>(pool_));
    if (status != xnn_status_success) fail("xnn_setup_convolution2d_nchw_f32", status, shape_);
  }
}

void XnnpackSparse1x1::run(int index) {
  const xnn_status status =
      xnn_run_operator(static_cast<xnn_operator_t>(ops_[static_cast<size_t>(index)]),
                       static_cast<pthreadpool_t>(pool_));
  if (status != xnn_status_success) fail("xnn_run_operator", status, shape_);
}

}  // namespace ubp::kernels::bench
