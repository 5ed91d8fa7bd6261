// Model output shapes at several input sizes, torchvision naming of ResNet's state_dict, and
// the list of prunable layers.
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <map>
#include <set>

#include "models/mobilenet_v1.h"
#include "models/model_utils.h"
#include "models/resnet.h"

namespace ubp::models {
namespace {

std::map<std::string, std::vector<int64_t>> state_dict_shapes(torch::nn::Module& m) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().sizes().vec();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value().sizes().vec();
  return out;
}

std::vector<int64_t> logits_shape(Classifier& model, int64_t size, int64_t channels = 3) {
  torch::NoGradGuard no_grad;
  model.eval();
  return model.forward(at::randn({2, channels, size, size})).sizes().vec();
}

TEST(Models, MobileNetV1ShapesAtEverySize) {
  for (bool small : {true, false}) {
    for (int64_t size : {28, 32, 64}) {
      MobileNetV1Options o;
      o.width = 0.25;
      o.num_classes = 10;
      o.in_channels = 1;
      o.small_input = small;
      MobileNetV1 m(o);
      EXPECT_EQ(logits_shape(*m, size, 1), (std::vector<int64_t>{2, 10})) << size << " small=" << small;
    }
  }
  MobileNetV1Options o;
  o.width = 0.25;
  MobileNetV1 m(o);
  EXPECT_EQ(logits_shape(*m, 224), (std::vector<int64_t>{2, 1000}));
  EXPECT_EQ(m->fc->options.in_features(), 256);
  EXPECT_EQ(m->conv1->options.out_channels(), 8);
  EXPECT_EQ(mobilenet_channels(1024, 1.0), 1024);
  EXPECT_EQ(mobilenet_channels(32, 0.1), 8);
}

TEST(Models, MobileNetV1SmallInputStride) {
  MobileNetV1Options o;
  o.width = 0.25;
  o.in_channels = 1;
  o.small_input = true;
  MobileNetV1 m(o);
  torch::NoGradGuard no_grad;
  m->eval();
  at::Tensor y = m->bn1->forward(m->conv1->forward(at::randn({1, 1, 32, 32})));
  y = m->features->forward(y);
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 256, 4, 4}));  // total stride 8
}

TEST(Models, ResNetShapesAtEverySize) {
  for (int depth : {18, 50}) {
    for (int64_t size : {28, 32, 64}) {
      ResNetOptions o;
      o.depth = depth;
      o.num_classes = 10;
      o.small_input = true;
      ResNet m(o);
      EXPECT_EQ(logits_shape(*m, size), (std::vector<int64_t>{2, 10})) << depth << " " << size;
    }
    ResNetOptions o;
    o.depth = depth;
    o.num_classes = 7;
    ResNet m(o);  // standard stem still works on small images
    EXPECT_EQ(logits_shape(*m, 32), (std::vector<int64_t>{2, 7})) << depth;
  }
  ResNetOptions bad;
  bad.depth = 34;
  EXPECT_THROW(ResNet{bad}, std::invalid_argument);
}

TEST(Models, ResNet18StateDictHasTorchvisionNames) {
  ResNet m(ResNetOptions{});
  const auto shapes = state_dict_shapes(*m);
  EXPECT_EQ(shapes.size(), 122u);  // len(torchvision.models.resnet18().state_dict())
  const std::map<std::string, std::vector<int64_t>> expected = {
      {"conv1.weight", {64, 3, 7, 7}},
      {"bn1.weight", {64}},
      {"bn1.bias", {64}},
      {"bn1.running_mean", {64}},
      {"bn1.running_var", {64}},
      {"bn1.num_batches_tracked", {}},
      {"layer1.0.conv1.weight", {64, 64, 3, 3}},
      {"layer1.0.bn1.weight", {64}},
      {"layer1.0.conv2.weight", {64, 64, 3, 3}},
      {"layer1.1.bn2.running_var", {64}},
      {"layer2.0.conv1.weight", {128, 64, 3, 3}},
      {"layer2.0.downsample.0.weight", {128, 64, 1, 1}},
      {"layer2.0.downsample.1.weight", {128}},
      {"layer2.0.downsample.1.running_mean", {128}},
      {"layer2.0.downsample.1.num_batches_tracked", {}},
      {"layer3.1.conv2.weight", {256, 256, 3, 3}},
      {"layer4.0.downsample.0.weight", {512, 256, 1, 1}},
      {"layer4.1.bn2.bias", {512}},
      {"fc.weight", {1000, 512}},
      {"fc.bias", {1000}},
  };
  for (const auto& [key, shape] : expected) {
    auto it = shapes.find(key);
    ASSERT_NE(it, shapes.end()) << "missing " << key;
    EXPECT_EQ(it->second, shape) << key;
  }
  // Every key of one block with a projection, exactly as torchvision names them.
  std::set<std::string> block_keys;
  for (const auto& [key, shape] : shapes) {
    if (key.rfind("layer2.0.", 0) == 0) block_keys.insert(key);
  }
  std::set<std::string> expected_block_keys = {"layer2.0.conv1.weight", "layer2.0.conv2.weight",
                                               "layer2.0.downsample.0.weight"};
  for (const std::string bn : {"layer2.0.bn1", "layer2.0.bn2", "layer2.0.downsample.1"}) {
    for (const char* leaf : {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}) {
      expected_block_keys.insert(bn + "." + leaf);
    }
  }
  EXPECT_EQ(block_keys, expected_block_keys);
  EXPECT_EQ(shapes.count("layer1.0.downsample.0.weight"), 0u);  // no projection in layer1 of resnet18
  EXPECT_EQ(shapes.count("maxpool"), 0u);
}

TEST(Models, ResNet50StateDictHasTorchvisionNames) {
  ResNetOptions o;
  o.depth = 50;
  ResNet m(o);
  const auto shapes = state_dict_shapes(*m);
  EXPECT_EQ(shapes.size(), 320u);  // len(torchvision.models.resnet50().state_dict())
  EXPECT_EQ(shapes.at("layer1.0.conv3.weight"), (std::vector<int64_t>{256, 64, 1, 1}));
  EXPECT_EQ(shapes.at("layer1.0.downsample.0.weight"), (std::vector<int64_t>{256, 64, 1, 1}));
  EXPECT_EQ(shapes.at("layer2.0.conv2.weight"), (std::vector<int64_t>{128, 128, 3, 3}));
  EXPECT_EQ(shapes.at("layer4.2.bn3.running_mean"), (std::vector<int64_t>{2048}));
  EXPECT_EQ(shapes.at("fc.weight"), (std::vector<int64_t>{1000, 2048}));
}

TEST(Models, PrunableLayers) {
  MobileNetV1Options mo;
  mo.width = 0.25;
  MobileNetV1 mobilenet(mo);
  const auto layers = prunable_layers(*mobilenet);
  int pointwise = 0, dw = 0;
  for (const auto& l : layers) {
    EXPECT_NE(l.name, "conv1");
    EXPECT_NE(l.name, "fc");
    pointwise += l.kind == LayerKind::kPointwise;
    dw += l.kind == LayerKind::kDepthwise;
  }
  EXPECT_EQ(pointwise, 13);
  EXPECT_EQ(dw, 13);
  EXPECT_EQ(layers.size(), 26u);
  EXPECT_EQ(layers[1].name, "features.0.pw");
  EXPECT_EQ(layers[1].rows, 16);
  EXPECT_EQ(layers[1].cols, 8);
  EXPECT_TRUE(layers[1].weight.is_same(mobilenet->features[0]->as<DepthwiseSeparable>()->pw->weight));

  ResNet resnet(ResNetOptions{});
  PrunableOptions all;
  all.include_first_conv = true;
  all.include_classifier = true;
  const auto everything = prunable_layers(*resnet, all);
  ASSERT_EQ(everything.size(), 21u);  // 20 convolutions and fc
  EXPECT_EQ(everything.front().name, "conv1");
  EXPECT_EQ(everything.front().kind, LayerKind::kConv);
  EXPECT_EQ(everything.back().name, "fc");
  EXPECT_EQ(everything.back().kind, LayerKind::kFc);
  const auto defaults = prunable_layers(*resnet);
  ASSERT_EQ(defaults.size(), 19u);
  int downsample = 0;
  for (const auto& l : defaults) {
    if (l.name.find("downsample") != std::string::npos) {
      ++downsample;
      EXPECT_EQ(l.kind, LayerKind::kPointwise);
    } else {
      EXPECT_EQ(l.kind, LayerKind::kConv) << l.name;
      EXPECT_EQ(l.cols, l.weight.size(1) * 9);
    }
  }
  EXPECT_EQ(downsample, 3);

  EXPECT_EQ(layer_kind_from_string("dw"), LayerKind::kDepthwise);
  EXPECT_THROW(layer_kind_from_string("depthwise"), std::invalid_argument);
  EXPECT_THROW(make_model(ModelSpec{"vgg16"}), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::models
