// A packed model on XNNPACK's subgraph API (see xnnpack_engine.h).
#include "xnnpack_engine.h"

#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <array>

#include "xnnpack_common.h"

// Exported by libXNNPACK.so, declared only in XNNPACK's internal src/xnnpack/subgraph.h.
extern "C" {
enum xnn_status xnn_subgraph_optimize(xnn_subgraph_t subgraph, uint32_t flags);
void xnn_subgraph_rewrite_for_nchw(xnn_subgraph_t subgraph);
}

namespace ubp::device {

using xnnpack::check;

std::string to_string(XnnpackMode mode) {
  return mode == XnnpackMode::kDense ? "dense" : "sparse";
}

struct XnnpackModel::Impl {
  xnn_subgraph_t subgraph = nullptr;
  xnn_runtime_t runtime = nullptr;
  pthreadpool_t pool = nullptr;
  // Static tensor data must outlive the runtime; XNNPACK keeps pointers into it.
  std::vector<std::vector<float>> constants;
  std::array<int64_t, 3> input_shape{}, output_shape{};
  std::vector<float> input, output;  // NHWC, with XNN_EXTRA_BYTES of slack

  ~Impl() {
    if (runtime != nullptr) xnn_delete_runtime(runtime);
    if (subgraph != nullptr) xnn_delete_subgraph(subgraph);
    if (pool != nullptr) pthreadpool_destroy(pool);
  }

  uint32_t constant(std::vector<float> data, std::vector<size_t> dims) {
    constants.push_back(std::move(data));
    uint32_t id = XNN_INVALID_VALUE_ID;
    check(xnn_define_tensor_value(subgraph, xnn_datatype_fp32, dims.size(), dims.data(),
                                  constants.back().data(), XNN_INVALID_VALUE_ID, 0, &id),
          "xnn_define_tensor_value (weights)");
    return id;
  }
  void build(const PackedModel& model);
};

void XnnpackModel::Impl::build(const PackedModel& model) {
  constexpr uint32_t kInputId = 0, kOutputId = 1;
  check(xnn_create_subgraph(/*external_value_ids=*/2, 0, &subgraph), "xnn_create_subgraph");
  input_shape = model.input_shape;
  output_shape = model.layers.back().output_shape;
  auto nhwc = [](const std::array<int64_t, 3>& s) {
    return std::vector<size_t>{1, static_cast<size_t>(s[1]), static_cast<size_t>(s[2]),
                               static_cast<size_t>(s[0])};
  };
  {
    const auto dims = nhwc(input_shape);
    uint32_t id = 0;
    check(xnn_define_tensor_value(subgraph, xnn_datatype_fp32, dims.size(), dims.data(), nullptr,
                                  kInputId, XNN_VALUE_FLAG_EXTERNAL_INPUT, &id),
          "xnn_define_tensor_value (input)");
  }
  const size_t n = model.layers.size();
  std::vector<uint32_t> value_of(n);
  auto value = [&](int index) { return index < 0 ? kInputId : value_of[static_cast<size_t>(index)]; };
  for (size_t i = 0; i < n; ++i) {
    const Layer& layer = model.layers[i];
    const std::string where = xnnpack::where(i, layer);
    const bool last = i + 1 == n;
    const auto dims = nhwc(layer.output_shape);
    check(xnn_define_tensor_value(subgraph, xnn_datatype_fp32, dims.size(), dims.data(), nullptr,
                                  last ? kOutputId : XNN_INVALID_VALUE_ID,
                                  last ? XNN_VALUE_FLAG_EXTERNAL_OUTPUT : 0, &value_of[i]),
          "xnn_define_tensor_value" + where);
    const uint32_t x = value(layer.input_from == kPreviousLayer ? static_cast<int>(i) - 1
                                                                : layer.input_from);
    const uint32_t y = value_of[i];
    const float lo = xnnpack::clamp_min(layer.activation), hi = xnnpack::clamp_max(layer.activation);
    const auto cin = static_cast<size_t>(layer.input_shape[0]);
    const auto cout = static_cast<size_t>(layer.output_shape[0]);
    const auto pad = static_cast<uint32_t>(layer.padding);
    const auto kh = static_cast<uint32_t>(layer.kernel_h), kw = static_cast<uint32_t>(layer.kernel_w);
    const auto stride = static_cast<uint32_t>(layer.stride);
    switch (layer.kind) {
      case LayerKind::kConv:
      case LayerKind::kPointwise: {
        const uint32_t filter = constant(xnnpack::filter_ohwi(layer), {cout, kh, kw, cin});
        const uint32_t bias = constant(layer.weights.bias(), {cout});
        check(xnn_define_convolution_2d(subgraph, pad, pad, pad, pad, kh, kw, stride, stride, 1, 1,
                                        /*groups=*/1, cin, cout, lo, hi, x, filter, bias, y, 0),
              "xnn_define_convolution_2d" + where);
        break;
      }
      case LayerKind::kDepthwise: {
        // Ours: [C][kh*kw]; XNNPACK: [1][kh][kw][C].
        const std::vector<float> m = layer.weights.matrix();
        std::vector<float> f(m.size());
        for (size_t c = 0; c < cin; ++c)
          for (size_t t = 0; t < size_t{kh} * kw; ++t) f[t * cin + c] = m[c * kh * kw + t];
        const uint32_t filter = constant(std::move(f), {1, kh, kw, cin});
        const uint32_t bias = constant(layer.weights.bias(), {cin});
        check(xnn_define_depthwise_convolution_2d(subgraph, pad, pad, pad, pad, kh, kw, stride,
                                                  stride, 1, 1, /*depth_multiplier=*/1, cin, lo,
                                                  hi, x, filter, bias, y, 0),
              "xnn_define_depthwise_convolution_2d" + where);
        break;
      }
      case LayerKind::kFc: {
        if (layer.input_shape[1] != 1 || layer.input_shape[2] != 1) {
          throw XnnpackError("XNNPACK model: a fully connected layer must read C x 1 x 1" + where);
        }
        const uint32_t filter = constant(layer.weights.matrix(), {cout, cin});
        const uint32_t bias = constant(layer.weights.bias(), {cout});
        check(xnn_define_fully_connected(subgraph, lo, hi, x, filter, bias, y, 0),
              "xnn_define_fully_connected" + where);
        break;
      }
      case LayerKind::kAdd:
        check(xnn_define_add2(subgraph, lo, hi, x, value(layer.residual_from), y, 0),
              "xnn_define_add2" + where);
        break;
      case LayerKind::kPool:
        // A clamp after max or mean equals the fused output clamp: both are monotone.
        if (layer.pool == PoolKind::kMax) {
          check(xnn_define_max_pooling_2d(subgraph, pad, pad, pad, pad, kh, kw, stride, stride, 1,
                                          1, lo, hi, x, y, 0),
                "xnn_define_max_pooling_2d" + where);
        } else if (layer.pool == PoolKind::kGlobalAverage) {
          check(xnn_define_global_average_pooling_2d(subgraph, lo, hi, x, y, 0),
                "xnn_define_global_average_pooling_2d" + where);
        } else {
          throw XnnpackError("XNNPACK model: only max and global average pooling" + where);
        }
        break;
    }
  }
  const size_t slack = XNN_EXTRA_BYTES / sizeof(float);
  input.assign(static_cast<size_t>(input_shape[0] * input_shape[1] * input_shape[2]) + slack, 0.0f);
  output.assign(static_cast<size_t>(output_shape[0] * output_shape[1] * output_shape[2]) + slack,
                0.0f);
}

XnnpackModel::XnnpackModel(const PackedModel& model, XnnpackMode mode, int threads)
    : mode_(mode), threads_(threads), impl_(std::make_unique<Impl>()) {
  if (threads < 1) {
    throw std::invalid_argument("XnnpackModel: threads = " + std::to_string(threads) +
                                " must be >= 1");
  }
  if (model.layers.empty()) throw std::invalid_argument("XnnpackModel: the model has no layers");
  xnnpack::initialize_once();
  Impl& m = *impl_;
  if (threads > 1) {
    m.pool = pthreadpool_create(static_cast<size_t>(threads));
    if (m.pool == nullptr) throw XnnpackError("pthreadpool_create failed");
  }
  m.build(model);
  if (mode == XnnpackMode::kSparse) {
    // What XNN_FLAG_HINT_SPARSE_INFERENCE would do if xnn_initialize had allowed it (header).
    check(xnn_subgraph_optimize(m.subgraph, 0), "xnn_subgraph_optimize");
    xnn_subgraph_rewrite_for_nchw(m.subgraph);
  }
  check(xnn_create_runtime_v2(m.subgraph, m.pool, 0, &m.runtime), "xnn_create_runtime_v2");
  const xnn_external_value externals[2] = {{0, m.input.data()}, {1, m.output.data()}};
  check(xnn_setup_runtime(m.runtime, 2, externals), "xnn_setup_runtime");
}

XnnpackModel::~XnnpackModel() = default;

void XnnpackModel::set_input(const float* chw) {
  xnnpack::chw_to_hwc(chw, impl_->input_shape, impl_->input.data());
}

void XnnpackModel::invoke() { check(xnn_invoke_runtime(impl_->runtime), "xnn_invoke_runtime"); }

std::vector<float> XnnpackModel::output() const {
  const Impl& m = *impl_;
  std::vector<float> chw(static_cast<size_t>(m.output_shape[0] * m.output_shape[1] * m.output_shape[2]));
  xnnpack::hwc_to_chw(m.output.data(), m.output_shape, chw.data());
  return chw;
}

}  // namespace ubp::device
