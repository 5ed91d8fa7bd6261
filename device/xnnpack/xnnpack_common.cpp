#include "xnnpack_common.h"

#include <limits>
#include <mutex>

#include "xnnpack_engine.h"

namespace ubp::device::xnnpack {
namespace {

// xnn_status values are 0..6 in this snapshot, in this order.
std::string status_name(xnn_status status) {
  static const char* const names[] = {"success",         "uninitialized",
                                      "invalid_parameter", "invalid_state",
                                      "unsupported_parameter", "unsupported_hardware",
                                      "out_of_memory"};
  const int i = static_cast<int>(status);
  if (i >= 0 && i < static_cast<int>(sizeof names / sizeof names[0])) {
    return std::string("xnn_status_") + names[i];
  }
  return "xnn_status(" + std::to_string(i) + ")";
}

}  // namespace

void check(xnn_status status, const std::string& call) {
  if (status != xnn_status_success) {
    throw XnnpackError("XNNPACK " + call + " failed: " + status_name(status));
  }
}

void initialize_once() {
  static std::once_flag once;
  static xnn_status status = xnn_status_uninitialized;
  std::call_once(once, [] { status = xnn_initialize(nullptr); });
  check(status, "xnn_initialize");
}

float clamp_min(kernels::Activation act) {
  return act == kernels::Activation::kNone ? -std::numeric_limits<float>::infinity() : 0.0f;
}
float clamp_max(kernels::Activation act) {
  return act == kernels::Activation::kRelu6 ? 6.0f : std::numeric_limits<float>::infinity();
}

std::string where(size_t index, const Layer& layer) {
  return " (layer " + std::to_string(index) + " '" + layer.name + "', " + to_string(layer.kind) +
         ")";
}

std::vector<float> filter_ohwi(const Layer& layer) {
  const std::vector<float> m = layer.weights.matrix();
  const auto cin = static_cast<size_t>(layer.input_shape[0]);
  const auto cout = static_cast<size_t>(layer.output_shape[0]);
  const auto kh = static_cast<size_t>(layer.kernel_h), kw = static_cast<size_t>(layer.kernel_w);
  std::vector<float> f(m.size());
  for (size_t o = 0; o < cout; ++o)
    for (size_t c = 0; c < cin; ++c)
      for (size_t ky = 0; ky < kh; ++ky)
        for (size_t kx = 0; kx < kw; ++kx)
          f[((o * kh + ky) * kw + kx) * cin + c] = m[((o * cin + c) * kh + ky) * kw + kx];
  return f;
}

void chw_to_hwc(const float* from, const std::array<int64_t, 3>& shape, float* to) {
  const int64_t c = shape[0], hw = shape[1] * shape[2];
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t p = 0; p < hw; ++p) to[p * c + ch] = from[ch * hw + p];
}

void hwc_to_chw(const float* from, const std::array<int64_t, 3>& shape, float* to) {
  const int64_t c = shape[0], hw = shape[1] * shape[2];
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t p = 0; p < hw; ++p) to[ch * hw + p] = from[p * c + ch];
}

}  // namespace ubp::device::xnnpack
