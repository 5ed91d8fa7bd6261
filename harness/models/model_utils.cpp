#include "models/model_utils.h"

#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <stdexcept>

#include "models/mobilenet_v1.h"
#include "models/resnet.h"

namespace ubp::models {

void init_conv_bn_linear(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (const auto& m : model.modules(/*include_self=*/false)) {
    if (auto* c = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (c->bias.defined()) c->bias.zero_();
    } else if (auto* b = m->as<torch::nn::BatchNorm2d>()) {
      b->weight.fill_(1.0);
      b->bias.zero_();
    }
  }
}

std::shared_ptr<Classifier> make_model(const ModelSpec& spec) {
  if (spec.name == "mobilenet_v1") {
    MobileNetV1Options o;
    o.width = spec.width;
    o.num_classes = spec.num_classes;
    o.in_channels = spec.in_channels;
    o.small_input = spec.small_input;
    return std::make_shared<MobileNetV1Impl>(o);
  }
  if (spec.name == "resnet18" || spec.name == "resnet50") {
    ResNetOptions o;
    o.depth = spec.name == "resnet18" ? 18 : 50;
    o.num_classes = spec.num_classes;
    o.in_channels = spec.in_channels;
    o.small_input = spec.small_input;
    return std::make_shared<ResNetImpl>(o);
  }
  throw std::invalid_argument("unknown model '" + spec.name + "'; accepted: mobilenet_v1, resnet18, resnet50");
}

const char* to_string(LayerKind kind) {
  switch (kind) {
    case LayerKind::kPointwise: return "pointwise";
    case LayerKind::kConv: return "conv";
    case LayerKind::kDepthwise: return "dw";
    case LayerKind::kFc: return "fc";
  }
  return "?";
}

LayerKind layer_kind_from_string(const std::string& name) {
  if (name == "pointwise") return LayerKind::kPointwise;
  if (name == "conv") return LayerKind::kConv;
  if (name == "dw") return LayerKind::kDepthwise;
  if (name == "fc") return LayerKind::kFc;
  throw std::invalid_argument("unknown layer kind '" + name + "'; accepted: pointwise, conv, dw, fc");
}

std::vector<PrunableLayer> prunable_layers(torch::nn::Module& model, const PrunableOptions& options) {
  std::vector<PrunableLayer> all;
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    const std::shared_ptr<torch::nn::Module>& m = item.value();
    PrunableLayer layer;
    layer.name = item.key();
    layer.module = m;
    if (auto* c = m->as<torch::nn::Conv2d>()) {
      const auto& o = c->options;
      const int64_t groups = o.groups();
      const auto k = o.kernel_size();
      if (groups > 1 && groups == o.in_channels()) {
        layer.kind = LayerKind::kDepthwise;
      } else if ((*k)[0] == 1 && (*k)[1] == 1) {
        layer.kind = LayerKind::kPointwise;
      } else {
        layer.kind = LayerKind::kConv;
      }
      layer.weight = c->weight;
    } else if (auto* l = m->as<torch::nn::Linear>()) {
      layer.kind = LayerKind::kFc;
      layer.weight = l->weight;
    } else {
      continue;
    }
    layer.rows = layer.weight.size(0);
    layer.cols = layer.weight.numel() / layer.rows;
    all.push_back(std::move(layer));
  }
  int64_t first_conv = -1, last_fc = -1;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].kind != LayerKind::kFc && first_conv < 0) first_conv = static_cast<int64_t>(i);
    if (all[i].kind == LayerKind::kFc) last_fc = static_cast<int64_t>(i);
  }
  std::vector<PrunableLayer> out;
  for (size_t i = 0; i < all.size(); ++i) {
    if (static_cast<int64_t>(i) == first_conv && !options.include_first_conv) continue;
    if (static_cast<int64_t>(i) == last_fc && !options.include_classifier) continue;
    out.push_back(std::move(all[i]));
  }
  return out;
}

}  // namespace ubp::models
