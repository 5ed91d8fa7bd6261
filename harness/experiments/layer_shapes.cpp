#include "experiments/layer_shapes.h"

#include <stdexcept>

namespace ubp::experiments {

namespace {

// MobileNetV1 1.0: 13 depthwise-separable blocks; the pointwise convolution of block i maps
// channels[i] to channels[i + 1].
std::vector<LayerShape> mobilenet_v1() {
  const int64_t channels[] = {32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024};
  std::vector<LayerShape> layers;
  for (int i = 0; i < 13; ++i) {
    layers.push_back({"model." + std::to_string(i + 1) + ".pointwise", channels[i + 1], channels[i], 1});
  }
  return layers;
}

// ResNet-50: four stages of bottlenecks (1x1 reduce, 3x3, 1x1 expand) with a 1x1 projection
// shortcut in each stage's first block.
std::vector<LayerShape> resnet50() {
  struct Stage {
    int blocks;
    int64_t width;
  };
  const Stage stages[] = {{3, 64}, {4, 128}, {6, 256}, {3, 512}};
  std::vector<LayerShape> layers;
  int64_t in_channels = 64;
  for (int s = 0; s < 4; ++s) {
    const int64_t width = stages[s].width, out_channels = width * 4;
    for (int b = 0; b < stages[s].blocks; ++b) {
      const std::string prefix = "layer" + std::to_string(s + 1) + "." + std::to_string(b) + ".";
      layers.push_back({prefix + "conv1", width, in_channels, 1});
      layers.push_back({prefix + "conv2", width, width * 9, 3});
      layers.push_back({prefix + "conv3", out_channels, width, 1});
      if (b == 0) layers.push_back({prefix + "downsample.0", out_channels, in_channels, 1});
      in_channels = out_channels;
    }
  }
  return layers;
}

}  // namespace

std::vector<std::string> model_names() { return {"mobilenet_v1", "resnet50"}; }

std::vector<LayerShape> model_layers(const std::string& model, const std::string& which) {
  std::vector<LayerShape> all;
  if (model == "mobilenet_v1") {
    all = mobilenet_v1();
  } else if (model == "resnet50") {
    all = resnet50();
  } else {
    throw std::invalid_argument("unknown model '" + model + "'; known: mobilenet_v1, resnet50");
  }
  if (which != "pointwise" && which != "conv" && which != "all") {
    throw std::invalid_argument("unknown layer choice '" + which + "'; accepted: pointwise, conv, all");
  }
  std::vector<LayerShape> chosen;
  for (const auto& layer : all) {
    const bool pointwise = layer.kernel == 1;
    if (which == "all" || (which == "pointwise") == pointwise) chosen.push_back(layer);
  }
  if (chosen.empty()) {
    throw std::invalid_argument("model '" + model + "' has no prunable '" + which +
                                "' layers (its k x k convolutions are depthwise or the stem)");
  }
  return chosen;
}

}  // namespace ubp::experiments
