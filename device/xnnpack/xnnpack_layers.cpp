// One XNNPACK operator per layer (see xnnpack_layers.h).
#include "xnnpack_layers.h"

#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <stdexcept>
#include <string>

#include "xnnpack_common.h"

namespace ubp::device {

using xnnpack::check;

struct XnnpackLayers::Impl {
  pthreadpool_t pool = nullptr;
  std::vector<xnn_operator_t> ops;  // one per layer (XNNPACK packs the weights at creation)
  std::array<int64_t, 3> input_shape{}, output_shape{};
  std::vector<float> input;                 // NHWC, with XNN_EXTRA_BYTES of slack
  std::vector<std::vector<float>> outputs;  // one per layer, with slack
  bool output_is_nchw = false;

  ~Impl() {
    for (xnn_operator_t op : ops) xnn_delete_operator(op);
    if (pool != nullptr) pthreadpool_destroy(pool);
  }
  void build(const PackedModel& model, XnnpackMode mode);
};

void XnnpackLayers::Impl::build(const PackedModel& model, XnnpackMode mode) {
  const bool sparse = mode == XnnpackMode::kSparse;
  const size_t slack = XNN_EXTRA_BYTES / sizeof(float);
  auto elements = [](const std::array<int64_t, 3>& s) { return static_cast<size_t>(s[0] * s[1] * s[2]); };
  input_shape = model.input_shape;
  input.assign(elements(input_shape) + slack, 0.0f);
  const size_t n = model.layers.size();
  outputs.resize(n);
  std::vector<bool> nchw(n, false);  // the layout each layer writes
  for (size_t i = 0; i < n; ++i) {
    const Layer& layer = model.layers[i];
    const std::string where = xnnpack::where(i, layer);
    outputs[i].assign(elements(layer.output_shape) + slack, 0.0f);
    const int from = layer.input_from == kPreviousLayer ? static_cast<int>(i) - 1 : layer.input_from;
    const float* x = from < 0 ? input.data() : outputs[static_cast<size_t>(from)].data();
    const bool x_nchw = from >= 0 && nchw[static_cast<size_t>(from)];
    float* y = outputs[i].data();
    const float lo = xnnpack::clamp_min(layer.activation), hi = xnnpack::clamp_max(layer.activation);
    const auto cin = static_cast<size_t>(layer.input_shape[0]);
    const auto h = static_cast<size_t>(layer.input_shape[1]), w = static_cast<size_t>(layer.input_shape[2]);
    const auto cout = static_cast<size_t>(layer.output_shape[0]);
    const auto pad = static_cast<uint32_t>(layer.padding);
    const auto kh = static_cast<uint32_t>(layer.kernel_h), kw = static_cast<uint32_t>(layer.kernel_w);
    const auto stride = static_cast<uint32_t>(layer.stride);
    auto refuse = [&](const std::string& why) {
      throw XnnpackError("XNNPACK per-layer model, sparse (NCHW): " + why + where);
    };
    xnn_operator_t op = nullptr;
    switch (layer.kind) {
      case LayerKind::kConv:
      case LayerKind::kPointwise: {
        const std::vector<float> filter = xnnpack::filter_ohwi(layer);
        const std::vector<float> bias = layer.weights.bias();
        if (!sparse) {
          check(xnn_create_convolution2d_nhwc_f32(pad, pad, pad, pad, kh, kw, stride, stride, 1, 1,
                                                  1, cin, cout, cin, cout, filter.data(),
                                                  bias.data(), lo, hi, 0, &op),
                "xnn_create_convolution2d_nhwc_f32" + where);
          ops.push_back(op);
          check(xnn_setup_convolution2d_nhwc_f32(op, 1, h, w, x, y, pool),
                "xnn_setup_convolution2d_nhwc_f32" + where);
          break;
        }
        const bool first_conv = !x_nchw && cin == 3 && kh == 3 && kw == 3 && stride == 2 && pad == 1;
        const bool spmm = x_nchw && kh == 1 && kw == 1 && stride == 1 && pad == 0;
        if (!first_conv && !spmm) {
          refuse("only a 3-channel 3x3 stride-2 first convolution and 1x1 stride-1 convolutions");
        }
        check(xnn_create_convolution2d_nchw_f32(pad, pad, pad, pad, kh, kw, stride, stride, 1, 1, 1,
                                                cin, cout, cin, cout, filter.data(), bias.data(),
                                                lo, hi, first_conv ? XNN_FLAG_INPUT_NHWC : 0, &op),
              "xnn_create_convolution2d_nchw_f32" + where);
        ops.push_back(op);
        check(xnn_setup_convolution2d_nchw_f32(op, 1, h, w, x, y, pool),
              "xnn_setup_convolution2d_nchw_f32" + where);
        nchw[i] = true;
        break;
      }
      case LayerKind::kDepthwise: {
        // Ours: [C][kh][kw], which is XNNPACK's grouped [G][1][kh][kw][1] and its CHW [G][kh][kw].
        const std::vector<float> filter = layer.weights.matrix();
        const std::vector<float> bias = layer.weights.bias();
        if (sparse && !x_nchw) refuse("a depthwise layer must read an NCHW map");
        auto create = sparse ? xnn_create_convolution2d_nchw_f32 : xnn_create_convolution2d_nhwc_f32;
        check(create(pad, pad, pad, pad, kh, kw, stride, stride, 1, 1, static_cast<uint32_t>(cin), 1,
                     1, cin, cin, filter.data(), bias.data(), lo, hi, 0, &op),
              "xnn_create_convolution2d (depthwise)" + where);
        ops.push_back(op);
        auto setup = sparse ? xnn_setup_convolution2d_nchw_f32 : xnn_setup_convolution2d_nhwc_f32;
        check(setup(op, 1, h, w, x, y, pool), "xnn_setup_convolution2d (depthwise)" + where);
        nchw[i] = sparse;
        break;
      }
      case LayerKind::kFc: {
        if (h != 1 || w != 1) {
          throw XnnpackError("XNNPACK per-layer model: a fully connected layer must read C x 1 x 1" + where);
        }
        const std::vector<float> matrix = layer.weights.matrix();
        const std::vector<float> bias = layer.weights.bias();
        check(xnn_create_fully_connected_nc_f32(cin, cout, cin, cout, matrix.data(), bias.data(), lo,
                                                hi, 0, &op),
              "xnn_create_fully_connected_nc_f32" + where);
        ops.push_back(op);
        check(xnn_setup_fully_connected_nc_f32(op, 1, x, y, pool),
              "xnn_setup_fully_connected_nc_f32" + where);
        break;
      }
      case LayerKind::kAdd: {
        if (sparse) refuse("XNNPACK has no NCHW add");
        const size_t shape[4] = {1, h, w, cin};
        const float* r = layer.residual_from < 0 ? input.data()
                                                 : outputs[static_cast<size_t>(layer.residual_from)].data();
        check(xnn_create_add_nd_f32(lo, hi, 0, &op), "xnn_create_add_nd_f32" + where);
        ops.push_back(op);
        check(xnn_setup_add_nd_f32(op, 4, shape, 4, shape, x, r, y, pool),
              "xnn_setup_add_nd_f32" + where);
        break;
      }
      case LayerKind::kPool:
        if (layer.pool == PoolKind::kGlobalAverage && x_nchw) {
          check(xnn_create_global_average_pooling_ncw_f32(cin, lo, hi, 0, &op),
                "xnn_create_global_average_pooling_ncw_f32" + where);
          ops.push_back(op);
          check(xnn_setup_global_average_pooling_ncw_f32(op, 1, h * w, x, y, pool),
                "xnn_setup_global_average_pooling_ncw_f32" + where);
        } else if (sparse) {
          refuse("only a global average pool of an NCHW map");
        } else if (layer.pool == PoolKind::kGlobalAverage) {
          check(xnn_create_global_average_pooling_nwc_f32(cin, cin, cin, lo, hi, 0, &op),
                "xnn_create_global_average_pooling_nwc_f32" + where);
          ops.push_back(op);
          check(xnn_setup_global_average_pooling_nwc_f32(op, 1, h * w, x, y, pool),
                "xnn_setup_global_average_pooling_nwc_f32" + where);
        } else if (layer.pool == PoolKind::kMax) {
          check(xnn_create_max_pooling2d_nhwc_f32(pad, pad, pad, pad, kh, kw, stride, stride, 1, 1,
                                                  cin, cin, cin, lo, hi, 0, &op),
                "xnn_create_max_pooling2d_nhwc_f32" + where);
          ops.push_back(op);
          check(xnn_setup_max_pooling2d_nhwc_f32(op, 1, h, w, x, y, pool),
                "xnn_setup_max_pooling2d_nhwc_f32" + where);
        } else {
          throw XnnpackError("XNNPACK per-layer model: only max and global average pooling" + where);
        }
        break;
    }
  }
  output_shape = model.layers.back().output_shape;
  output_is_nchw = nchw.back();
}

XnnpackLayers::XnnpackLayers(const PackedModel& model, XnnpackMode mode, int threads)
    : impl_(std::make_unique<Impl>()) {
  if (threads < 1) {
    throw std::invalid_argument("XnnpackLayers: threads = " + std::to_string(threads) +
                                " must be >= 1");
  }
  if (model.layers.empty()) throw std::invalid_argument("XnnpackLayers: the model has no layers");
  xnnpack::initialize_once();
  if (threads > 1) {
    impl_->pool = pthreadpool_create(static_cast<size_t>(threads));
    if (impl_->pool == nullptr) throw XnnpackError("pthreadpool_create failed");
  }
  impl_->build(model, mode);
}

XnnpackLayers::~XnnpackLayers() = default;

void XnnpackLayers::set_input(const float* chw) {
  xnnpack::chw_to_hwc(chw, impl_->input_shape, impl_->input.data());
}

void XnnpackLayers::run(std::vector<double>* layer_seconds) {
  Impl& m = *impl_;
  if (layer_seconds != nullptr) layer_seconds->resize(m.ops.size());
  for (size_t i = 0; i < m.ops.size(); ++i) {
    const auto start = std::chrono::steady_clock::now();
    const xnn_status status = xnn_run_operator(m.ops[i], m.pool);
    if (status != xnn_status_success) check(status, "xnn_run_operator (layer " + std::to_string(i) + ")");
    if (layer_seconds != nullptr) {
      (*layer_seconds)[i] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  }
}

std::vector<float> XnnpackLayers::output() const {
  const Impl& m = *impl_;
  const std::vector<float>& last = m.outputs.back();
  std::vector<float> chw(static_cast<size_t>(m.output_shape[0] * m.output_shape[1] * m.output_shape[2]));
  if (m.output_is_nchw) {
    std::copy(last.begin(), last.begin() + static_cast<std::ptrdiff_t>(chw.size()), chw.begin());
  } else {
    xnnpack::hwc_to_chw(last.data(), m.output_shape, chw.data());
  }
  return chw;
}

}  // namespace ubp::device
