// The XNNPACK anchor of the engine benchmark (xnnpack/xnnpack_engine.h) must compute the same
// model as our engine, or the benchmark's ratios compare different work. Small random models in
// every storage (packed layers reach XNNPACK unpacked, with their zeros), dense NHWC and forced
// sparse NCHW, 1 and 2 threads, against the engine's output. The same for the per-layer model
// (xnnpack/xnnpack_layers.h), whose layer times are only worth printing if its operators compute
// the model.
//
// Tolerance: both sum in float in different orders (XNNPACK's NHWC GEMM, its SpMM over the
// non-zeros, its own depthwise tiles), so outputs differ by rounding that grows over the
// layers; with He-scaled weights that is about 1e-6 of the largest output. 1e-4 of it leaves
// room for that, while a transposed filter or a lost bias moves the output by far more.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "model_builder.h"
#include "test_util.h"
#include "ubp/device/engine.h"
#include "xnnpack_engine.h"
#include "xnnpack_layers.h"

namespace ubp::device {
namespace {

using testing::ModelBuilder;

// MobileNetV1's pattern: a 3-channel 3x3 stride-2 stem, depthwise 3x3 stride 1 and 2,
// pointwise layers in every storage, global pool, classifier. Whether XNNPACK's NCHW rewrite
// converts it is XNNPACK's decision (it counts the zeros); the output must match either way.
PackedModel mobilenet_like() {
  ModelBuilder b("mobilenet-like", {3, 17, 15}, 5);
  b.conv("conv_stem", 8, 3, 2, 1, Activation::kRelu6, WeightStorage::kDense);
  b.depthwise("dw1", 1, Activation::kRelu6);
  b.conv("pw1", 16, 1, 1, 0, Activation::kRelu6, WeightStorage::kAligned);
  b.depthwise("dw2", 2, Activation::kRelu6);
  b.conv("pw2", 24, 1, 1, 0, Activation::kRelu6, WeightStorage::kUnaligned);
  b.depthwise("dw3", 1, Activation::kRelu);
  b.conv("pw3", 32, 1, 1, 0, Activation::kRelu, WeightStorage::kUnalignedNaive);
  b.pool("avgpool", PoolKind::kGlobalAverage);
  b.fc("fc", 10, Activation::kNone, WeightStorage::kDense);
  return b.model();
}

// ResNet's pattern: 7x7 stem, max pool, a bottleneck with a strided downsample branch reading
// the block input, one without, global pool, classifier.
PackedModel resnet_like() {
  ModelBuilder b("resnet-like", {3, 23, 19}, 6);
  b.conv("conv1", 8, 7, 2, 3, Activation::kRelu, WeightStorage::kDense);
  const int pool = b.pool("maxpool", PoolKind::kMax, 3, 2, 1);
  b.conv("l.0.conv1", 8, 1, 1, 0, Activation::kRelu, WeightStorage::kDense);
  b.conv("l.0.conv2", 8, 3, 2, 1, Activation::kRelu, WeightStorage::kAligned);
  const int conv3 = b.conv("l.0.conv3", 16, 1, 1, 0, Activation::kNone, WeightStorage::kDense);
  b.conv("l.0.downsample", 16, 1, 2, 0, Activation::kNone, WeightStorage::kUnaligned, pool);
  const int block = b.add("l.0.add", conv3, Activation::kRelu);
  b.conv("l.1.conv1", 8, 1, 1, 0, Activation::kRelu, WeightStorage::kDense);
  b.conv("l.1.conv2", 8, 3, 1, 1, Activation::kRelu, WeightStorage::kDense);
  b.conv("l.1.conv3", 16, 1, 1, 0, Activation::kNone, WeightStorage::kDense);
  b.add("l.1.add", block, Activation::kRelu);
  b.pool("avgpool", PoolKind::kGlobalAverage);
  b.fc("fc", 10, Activation::kNone, WeightStorage::kDense);
  return b.model();
}

std::vector<float> model_input(const PackedModel& model) {
  return kernels::testing::random_floats(
      model.input_shape[0] * model.input_shape[1] * model.input_shape[2], 9);
}

void expect_close_to_engine(const PackedModel& model, const std::vector<float>& got) {
  Engine engine(model, 1);
  const std::vector<float> expected = engine.run(model_input(model));
  ASSERT_EQ(got.size(), expected.size());
  double largest = 0;
  for (float v : expected) largest = std::max(largest, std::abs(static_cast<double>(v)));
  ASSERT_GT(largest, 0.0);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], expected[i], 1e-4 * largest) << "output " << i;
  }
}

void expect_same_as_engine(const PackedModel& model, XnnpackMode mode, int threads) {
  SCOPED_TRACE(model.name + " " + to_string(mode) + " threads " + std::to_string(threads));
  XnnpackModel xnn(model, mode, threads);
  xnn.set_input(model_input(model).data());
  xnn.invoke();
  expect_close_to_engine(model, xnn.output());
}

// Also: one time per layer, each positive, and a second pass gives the same output.
void expect_layers_same_as_engine(const PackedModel& model, XnnpackMode mode, int threads) {
  SCOPED_TRACE(model.name + " per layer, " + to_string(mode) + " threads " + std::to_string(threads));
  XnnpackLayers layers(model, mode, threads);
  layers.set_input(model_input(model).data());
  std::vector<double> seconds;
  layers.run(&seconds);
  const std::vector<float> first = layers.output();
  expect_close_to_engine(model, first);
  ASSERT_EQ(seconds.size(), model.layers.size());
  for (size_t i = 0; i < seconds.size(); ++i) EXPECT_GT(seconds[i], 0.0) << "layer " << i;
  layers.run();
  EXPECT_EQ(layers.output(), first);
}

TEST(XnnpackModel, MobileNetLikeAgreesWithTheEngineDenseAndSparse) {
  const PackedModel model = mobilenet_like();
  for (XnnpackMode mode : {XnnpackMode::kDense, XnnpackMode::kSparse}) {
    for (int threads : {1, 2}) expect_same_as_engine(model, mode, threads);
  }
}

TEST(XnnpackModel, ResNetLikeAgreesWithTheEngine) {
  const PackedModel model = resnet_like();
  for (XnnpackMode mode : {XnnpackMode::kDense, XnnpackMode::kSparse}) {
    for (int threads : {1, 2}) expect_same_as_engine(model, mode, threads);
  }
}

TEST(XnnpackLayers, MobileNetLikeAgreesWithTheEngineDenseAndSparse) {
  const PackedModel model = mobilenet_like();
  for (XnnpackMode mode : {XnnpackMode::kDense, XnnpackMode::kSparse}) {
    for (int threads : {1, 2}) expect_layers_same_as_engine(model, mode, threads);
  }
}

TEST(XnnpackLayers, ResNetLikeAgreesWithTheEngineDense) {
  for (int threads : {1, 2}) expect_layers_same_as_engine(resnet_like(), XnnpackMode::kDense, threads);
}

TEST(XnnpackLayers, SparseRefusesALayerOutsideTheMobileNetPatternAndNamesIt) {
  try {
    XnnpackLayers layers(resnet_like(), XnnpackMode::kSparse, 1);
    FAIL() << "a 7x7 stem was accepted in NCHW";
  } catch (const XnnpackError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0 'conv1'"), std::string::npos) << e.what();
  }
}

TEST(XnnpackModel, RefusesZeroThreads) {
  EXPECT_THROW(XnnpackModel(mobilenet_like(), XnnpackMode::kDense, 0), std::invalid_argument);
  EXPECT_THROW(XnnpackLayers(mobilenet_like(), XnnpackMode::kDense, 0), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::device
