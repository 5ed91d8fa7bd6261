#include "export/packed_export.h"

#include <set>
#include <stdexcept>

#include "export/block_decomposition.h"
#include "models/mobilenet_v1.h"
#include "models/resnet.h"
#include "training/pruner.h"
#include "ubp/kernels/packed.h"

namespace ubp::exporter {
namespace {

namespace nn = torch::nn;
using device::Layer;
using device::LayerKind;
using kernels::Activation;

std::vector<float> to_floats(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kFloat).contiguous().cpu();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

std::string shape_text(at::IntArrayRef sizes) {
  std::string s;
  for (const int64_t d : sizes) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s.empty() ? "scalar" : s;
}

// Builds the packed model layer by layer, in execution order.
class Exporter {
 public:
  Exporter(const std::map<std::string, at::Tensor>& masks, const ExportOptions& options)
      : masks_(masks), options_(options) {
    packed_.name = options.name;
    packed_.input_shape = options.input_shape;
  }

  // The index of the newest layer (-1 while there is none: the model input).
  int last() const { return static_cast<int>(packed_.layers.size()) - 1; }

  // Convolution `conv` followed by batch norm `bn` (folded) and `activation`. `input_from`:
  // a layer index, or device::kModelInput / device::kPreviousLayer.
  int conv(const std::string& name, nn::Conv2dImpl& conv, nn::BatchNorm2dImpl& bn,
           Activation activation, int input_from = device::kPreviousLayer) {
    const auto& o = conv.options;
    const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
    if (padding == nullptr || (**padding)[0] != (**padding)[1] ||
        (*o.stride())[0] != (*o.stride())[1] || (*o.dilation())[0] != 1 ||
        (*o.dilation())[1] != 1 ||
        !c10::holds_alternative<torch::enumtype::kZeros>(o.padding_mode())) {
      throw std::invalid_argument("layer '" + name +
                                  "': only convolutions with equal explicit "
                                  "padding and stride in both directions, dilation 1 and zero "
                                  "padding can be exported");
    }
    Layer layer;
    layer.name = name;
    layer.input_from = input_from;
    layer.input_shape = input_shape_of(input_from);
    layer.kernel_h = static_cast<int>((*o.kernel_size())[0]);
    layer.kernel_w = static_cast<int>((*o.kernel_size())[1]);
    layer.stride = static_cast<int>((*o.stride())[0]);
    layer.padding = static_cast<int>((**padding)[0]);
    layer.activation = activation;
    const int64_t in_channels = o.in_channels(), out_channels = o.out_channels();
    if (layer.input_shape[0] != in_channels) {
      throw std::invalid_argument("layer '" + name + "' expects " + std::to_string(in_channels) +
                                  " input channels but its input has " +
                                  std::to_string(layer.input_shape[0]));
    }
    const bool depthwise =
        o.groups() > 1 && o.groups() == in_channels && out_channels == in_channels;
    if (o.groups() != 1 && !depthwise) {
      throw std::invalid_argument("layer '" + name + "': grouped convolution with " +
                                  std::to_string(o.groups()) +
                                  " groups; only groups = 1 and "
                                  "depthwise (groups = channels) can be exported");
    }
    if (depthwise) {
      layer.kind = LayerKind::kDepthwise;
    } else if (layer.kernel_h == 1 && layer.kernel_w == 1 && layer.padding == 0) {
      layer.kind = LayerKind::kPointwise;
    } else {
      layer.kind = LayerKind::kConv;
    }
    auto window = [&](int64_t in, int kernel) {
      return (in + 2 * layer.padding - kernel) / layer.stride + 1;
    };
    layer.output_shape = {out_channels, window(layer.input_shape[1], layer.kernel_h),
                          window(layer.input_shape[2], layer.kernel_w)};
    std::vector<float> bias = conv.bias.defined() ? to_floats(conv.bias) : std::vector<float>{};
    set_weights(layer, conv.weight, std::move(bias), &bn);
    return push(std::move(layer));
  }

  int max_pool(const std::string& name, int kernel, int stride, int padding) {
    Layer layer;
    layer.name = name;
    layer.kind = LayerKind::kPool;
    layer.pool = device::PoolKind::kMax;
    layer.kernel_h = layer.kernel_w = kernel;
    layer.stride = stride;
    layer.padding = padding;
    layer.input_shape = input_shape_of(device::kPreviousLayer);
    const auto& in = layer.input_shape;
    layer.output_shape = {in[0], (in[1] + 2 * padding - kernel) / stride + 1,
                          (in[2] + 2 * padding - kernel) / stride + 1};
    return push(std::move(layer));
  }

  int global_average_pool(const std::string& name) {
    Layer layer;
    layer.name = name;
    layer.kind = LayerKind::kPool;
    layer.pool = device::PoolKind::kGlobalAverage;
    layer.input_shape = input_shape_of(device::kPreviousLayer);
    layer.output_shape = {layer.input_shape[0], 1, 1};
    return push(std::move(layer));
  }

  // The previous layer's output plus the output of `residual_from`, then `activation`.
  int add(const std::string& name, int residual_from, Activation activation) {
    Layer layer;
    layer.name = name;
    layer.kind = LayerKind::kAdd;
    layer.residual_from = residual_from;
    layer.activation = activation;
    layer.input_shape = input_shape_of(device::kPreviousLayer);
    layer.output_shape = layer.input_shape;
    return push(std::move(layer));
  }

  int fully_connected(const std::string& name, nn::LinearImpl& fc) {
    Layer layer;
    layer.name = name;
    layer.kind = LayerKind::kFc;
    layer.input_shape = input_shape_of(device::kPreviousLayer);
    const auto& in = layer.input_shape;
    if (in[0] * in[1] * in[2] != fc.options.in_features()) {
      throw std::invalid_argument(
          "layer '" + name + "' expects " + std::to_string(fc.options.in_features()) +
          " inputs but its input has " + std::to_string(in[0] * in[1] * in[2]));
    }
    layer.output_shape = {fc.options.out_features(), 1, 1};
    set_weights(layer, fc.weight, fc.bias.defined() ? to_floats(fc.bias) : std::vector<float>{},
                nullptr);
    return push(std::move(layer));
  }

  device::PackedModel finish() {
    std::string unused;
    for (const auto& [name, mask] : masks_) {
      if (used_.count(name) == 0) unused += (unused.empty() ? "'" : ", '") + name + "'";
    }
    if (!unused.empty()) {
      std::string known;
      for (const auto& layer : packed_.layers) {
        if (layer.has_weights()) known += (known.empty() ? "" : ", ") + layer.name;
      }
      throw std::invalid_argument("masks for " + unused +
                                  " name no weight layer of the model "
                                  "(its weight layers: " +
                                  known + ")");
    }
    device::validate_model(packed_, "export of '" + packed_.name + "'");
    return std::move(packed_);
  }

 private:
  std::array<int64_t, 3> input_shape_of(int input_from) const {
    const int source = input_from == device::kPreviousLayer ? last() : input_from;
    return source < 0 ? packed_.input_shape
                      : packed_.layers[static_cast<size_t>(source)].output_shape;
  }

  int push(Layer layer) {
    for (int i = 1; i < 3; ++i) {
      if (layer.output_shape[static_cast<size_t>(i)] < 1) {
        throw std::invalid_argument("layer '" + layer.name + "': the input " +
                                    std::to_string(layer.input_shape[1]) + "x" +
                                    std::to_string(layer.input_shape[2]) +
                                    " is too small for it (the export's input shape is " +
                                    std::to_string(options_.input_shape[1]) + "x" +
                                    std::to_string(options_.input_shape[2]) + ")");
      }
    }
    packed_.layers.push_back(std::move(layer));
    return last();
  }

  // Weight matrix (masked, batch norm folded) and its storage.
  void set_weights(Layer& layer, const at::Tensor& weight, std::vector<float> bias,
                   nn::BatchNorm2dImpl* bn) {
    const int64_t rows = weight.size(0), cols = weight.numel() / rows;
    std::vector<float> w = to_floats(weight);
    std::vector<float> mask;
    const auto found = masks_.find(layer.name);
    if (found != masks_.end()) {
      used_.insert(layer.name);
      if (!found->second.sizes().equals(weight.sizes())) {
        throw std::invalid_argument("layer '" + layer.name + "': the mask has shape " +
                                    shape_text(found->second.sizes()) + ", the weight " +
                                    shape_text(weight.sizes()));
      }
      mask = to_floats(found->second);
      for (size_t i = 0; i < w.size(); ++i) {
        if (mask[i] == 0.0f) w[i] = 0.0f;
      }
    }
    if (bn != nullptr) {
      if (!bn->running_mean.defined() || !bn->running_var.defined()) {
        throw std::invalid_argument("layer '" + layer.name +
                                    "': its batch norm keeps no running "
                                    "statistics, so it cannot be folded");
      }
      const int64_t n = bn->options.num_features();
      const std::vector<float> gamma =
          bn->weight.defined() ? to_floats(bn->weight) : std::vector<float>(n, 1.0f);
      const std::vector<float> beta =
          bn->bias.defined() ? to_floats(bn->bias) : std::vector<float>(n, 0.0f);
      device::fold_batch_norm(w, bias, gamma, beta, to_floats(bn->running_mean),
                              to_floats(bn->running_var), static_cast<float>(bn->options.eps()));
    }
    if (bias.empty()) bias.assign(static_cast<size_t>(rows), 0.0f);

    device::LayerWeights& out = layer.weights;
    const bool packable = layer.kind == LayerKind::kConv || layer.kind == LayerKind::kPointwise;
    if (mask.empty() || !packable || options_.kernel == ExportKernel::kDense) {
      out.storage = device::WeightStorage::kDense;
      out.dense = std::move(w);
      out.dense_bias = std::move(bias);
      return;
    }
    const kernels::BlockShape shape{options_.block.rows, options_.block.cols};
    const bool aligned = options_.kernel == ExportKernel::kAligned;
    const std::vector<kernels::Block> blocks =
        blocks_from_mask(mask, rows, cols, shape,
                         aligned ? BlockLayout::kAligned : BlockLayout::kUnaligned, layer.name);
    try {
      if (aligned) {
        out.storage = device::WeightStorage::kAligned;
        out.aligned = kernels::pack_aligned(w.data(), bias.data(), rows, cols, shape, blocks);
      } else {
        out.storage = options_.kernel == ExportKernel::kUnalignedNaive
                          ? device::WeightStorage::kUnalignedNaive
                          : device::WeightStorage::kUnaligned;
        out.unaligned = kernels::pack_unaligned(w.data(), bias.data(), rows, cols, shape, blocks);
      }
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("layer '" + layer.name + "': " + e.what());
    }
  }

  const std::map<std::string, at::Tensor>& masks_;
  const ExportOptions& options_;
  device::PackedModel packed_;
  std::set<std::string> used_;
};

nn::Conv2dImpl& conv_at(const nn::Sequential& seq, size_t index) {
  return *seq->ptr(index)->as<nn::Conv2dImpl>();
}
nn::BatchNorm2dImpl& bn_at(const nn::Sequential& seq, size_t index) {
  return *seq->ptr(index)->as<nn::BatchNorm2dImpl>();
}

void export_mobilenet(Exporter& ex, models::MobileNetV1Impl& net) {
  ex.conv("conv1", *net.conv1, *net.bn1, Activation::kRelu);
  for (size_t i = 0; i < net.features->size(); ++i) {
    auto* block = net.features->ptr(i)->as<models::DepthwiseSeparableImpl>();
    const std::string prefix = "features." + std::to_string(i);
    ex.conv(prefix + ".dw", *block->dw, *block->dw_bn, Activation::kRelu);
    ex.conv(prefix + ".pw", *block->pw, *block->pw_bn, Activation::kRelu);
  }
  ex.global_average_pool("avgpool");
  ex.fully_connected("fc", *net.fc);
}

void export_resnet(Exporter& ex, models::ResNetImpl& net) {
  ex.conv("conv1", *net.conv1, *net.bn1, Activation::kRelu);
  if (!net.options().small_input) ex.max_pool("maxpool", 3, 2, 1);
  const nn::Sequential* stages[] = {&net.layer1, &net.layer2, &net.layer3, &net.layer4};
  for (size_t s = 0; s < 4; ++s) {
    const nn::Sequential& stage = *stages[s];
    for (size_t b = 0; b < stage->size(); ++b) {
      const std::string prefix = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
      const int block_input = ex.last();
      int body_end = 0;
      nn::Sequential downsample{nullptr};
      if (auto* basic = stage->ptr(b)->as<models::BasicBlockImpl>()) {
        ex.conv(prefix + ".conv1", *basic->conv1, *basic->bn1, Activation::kRelu);
        body_end = ex.conv(prefix + ".conv2", *basic->conv2, *basic->bn2, Activation::kNone);
        downsample = basic->downsample;
      } else if (auto* neck = stage->ptr(b)->as<models::BottleneckImpl>()) {
        ex.conv(prefix + ".conv1", *neck->conv1, *neck->bn1, Activation::kRelu);
        ex.conv(prefix + ".conv2", *neck->conv2, *neck->bn2, Activation::kRelu);
        body_end = ex.conv(prefix + ".conv3", *neck->conv3, *neck->bn3, Activation::kNone);
        downsample = neck->downsample;
      } else {
        throw std::invalid_argument("layer '" + prefix +
                                    "' is neither a BasicBlock nor a "
                                    "Bottleneck");
      }
      int residual = block_input;
      if (downsample) {
        // The shortcut reads the block input, not the body's output.
        ex.conv(prefix + ".downsample.0", conv_at(downsample, 0), bn_at(downsample, 1),
                Activation::kNone, block_input < 0 ? device::kModelInput : block_input);
        residual = body_end;
      }
      ex.add(prefix + ".add", residual, Activation::kRelu);
    }
  }
  ex.global_average_pool("avgpool");
  ex.fully_connected("fc", *net.fc);
}

}  // namespace

std::string to_string(ExportKernel kernel) {
  switch (kernel) {
    case ExportKernel::kDense:
      return "dense";
    case ExportKernel::kAligned:
      return "aligned";
    case ExportKernel::kUnaligned:
      return "unaligned";
    case ExportKernel::kUnalignedNaive:
      return "unaligned-naive";
  }
  return "?";
}

ExportKernel export_kernel_from_string(const std::string& name) {
  for (const ExportKernel k : {ExportKernel::kDense, ExportKernel::kAligned,
                              ExportKernel::kUnaligned, ExportKernel::kUnalignedNaive}) {
    if (to_string(k) == name) return k;
  }
  throw std::invalid_argument("unknown export kernel '" + name +
                              "' (accepted: dense, aligned, unaligned, unaligned-naive)");
}

device::PackedModel export_model(models::Classifier& model,
                                 const std::map<std::string, at::Tensor>& masks,
                                 const ExportOptions& options) {
  for (const int64_t d : options.input_shape) {
    if (d < 1) {
      throw std::invalid_argument(
          "export: the input shape " + std::to_string(options.input_shape[0]) + "x" +
          std::to_string(options.input_shape[1]) + "x" + std::to_string(options.input_shape[2]) +
          " has an empty dimension (C, H and W must be at least 1)");
    }
  }
  Exporter ex(masks, options);
  if (auto* mobilenet = dynamic_cast<models::MobileNetV1Impl*>(&model)) {
    export_mobilenet(ex, *mobilenet);
  } else if (auto* resnet = dynamic_cast<models::ResNetImpl*>(&model)) {
    export_resnet(ex, *resnet);
  } else {
    throw std::invalid_argument(
        "export: the model is neither MobileNetV1 nor a ResNet "
        "(models/mobilenet_v1.h, models/resnet.h)");
  }
  return ex.finish();
}

std::map<std::string, at::Tensor> choose_masks_for_export(models::Classifier& model,
                                                          const MaskChoice& choice) {
  std::map<std::string, at::Tensor> masks;
  if (choice.method == "none") return masks;
  training::LayerFilter filter;
  filter.kinds = choice.layers;
  const auto layers = training::select_layers(model, filter);
  training::PruneSpec spec;
  spec.method = choice.method;
  spec.block = choice.block;
  std::vector<at::Tensor> weights;
  for (const auto& layer : layers) weights.push_back(layer.weight.detach());
  const auto chosen = training::choose_masks(layers, weights, spec, choice.sparsity);
  for (size_t i = 0; i < layers.size(); ++i) masks[layers[i].name] = chosen[i].mask;
  return masks;
}

ExportSummary summarize_export(const device::PackedModel& packed,
                               const std::map<std::string, at::Tensor>& masks) {
  ExportSummary s;
  s.layers = static_cast<int64_t>(packed.layers.size());
  for (const auto& layer : packed.layers) {
    if (!layer.has_weights()) continue;
    switch (layer.weights.storage) {
      case device::WeightStorage::kDense:
        ++s.dense;
        break;
      case device::WeightStorage::kAligned:
        ++s.aligned;
        break;
      case device::WeightStorage::kUnaligned:
        ++s.unaligned;
        break;
      case device::WeightStorage::kUnalignedNaive:
        ++s.unaligned_naive;
        break;
    }
  }
  double kept = 0, total = 0;
  for (const auto& [name, mask] : masks) {
    kept += mask.ne(0).sum().item<double>();
    total += static_cast<double>(mask.numel());
    ++s.masked_layers;
  }
  s.kept_fraction = total > 0 ? kept / total : 1.0;
  return s;
}

}  // namespace ubp::exporter
