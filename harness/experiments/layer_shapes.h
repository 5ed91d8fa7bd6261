// Prunable layer shapes of the models the paper uses, as Cout x K weight matrices
// (K = Cin * k * k for a k x k convolution, docs/method.md section 1). Names follow torchvision.
// The first convolution, depthwise convolutions and the classifier are never listed: they
// stay dense by default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ubp::experiments {

struct LayerShape {
  std::string name;  // "model.3.pointwise" style for MobileNetV1, "layer1.0.conv1" for ResNet
  int64_t rows = 0;  // Cout
  int64_t cols = 0;  // Cin * k * k
  int kernel = 1;    // k
};

std::vector<std::string> model_names();  // "mobilenet_v1", "resnet50"

// `which`: "pointwise" (1x1), "conv" (k x k, k > 1) or "all". Throws std::invalid_argument for
// an unknown model or when the choice leaves no layer.
std::vector<LayerShape> model_layers(const std::string& model, const std::string& which);

}  // namespace ubp::experiments
