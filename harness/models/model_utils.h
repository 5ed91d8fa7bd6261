// Model construction by name, weight initialisation, and the list of layers a pruning run may
// touch.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

#include "models/classifier.h"

namespace ubp::models {

// Convolutions: Kaiming normal (fan_out, ReLU); batch norm: weight 1, bias 0; linear layers
// keep LibTorch's default (as torchvision's ResNet does).
void init_conv_bn_linear(torch::nn::Module& model);

struct ModelSpec {
  std::string name = "mobilenet_v1";  // mobilenet_v1 | resnet18 | resnet50
  double width = 1.0;                 // MobileNetV1 only
  int64_t num_classes = 1000;
  int64_t in_channels = 3;
  bool small_input = false;
};
// Throws std::invalid_argument naming the accepted models for an unknown name.
std::shared_ptr<Classifier> make_model(const ModelSpec& spec);

// Kinds (docs/method.md section 6): pointwise = 1x1 convolution, conv = k x k convolution (k > 1),
// dw = depthwise (groups == in_channels > 1), fc = linear. Grouped non-depthwise convolutions
// count as conv.
enum class LayerKind { kPointwise, kConv, kDepthwise, kFc };
const char* to_string(LayerKind kind);
LayerKind layer_kind_from_string(const std::string& name);  // "pointwise" | "conv" | "dw" | "fc"

struct PrunableLayer {
  std::string name;                           // module name, e.g. "layer1.0.conv1"
  std::shared_ptr<torch::nn::Module> module;  // the Conv2d or Linear
  LayerKind kind;
  torch::Tensor weight;                       // the module's weight parameter (shared storage)
  int64_t rows = 0, cols = 0;                 // the Cout x Cin*kh*kw matrix view (groups=1)
};

struct PrunableOptions {
  bool include_first_conv = false;  // the first Conv2d in registration order
  bool include_classifier = false;  // the last Linear in registration order
};

// Every Conv2d and Linear in registration (state_dict) order, except the first convolution and
// the classifier unless asked for.
std::vector<PrunableLayer> prunable_layers(torch::nn::Module& model, const PrunableOptions& options = {});

}  // namespace ubp::models
