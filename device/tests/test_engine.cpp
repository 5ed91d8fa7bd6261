// The whole-model engine against a scalar reference written here from the layer definitions
// (double precision, weights through LayerWeights::matrix() / bias(), none of the engine's
// operators), on small random MobileNetV1-like and ResNet-like models in every storage and with
// every activation; plus threads, buffer reuse, files, repeated runs, timing, single layers and
// the models the engine must refuse.
//
// Tolerance. One layer: a float sum of n products may differ from the exact value by at most
// about n * FLT_EPSILON times the sum of the absolute values of its terms, whatever the order
// of accumulation. As in test_ops.cpp we allow max(1e-5, (n + 2) * FLT_EPSILON) times that sum
// per element. This bound is applied layer by layer: the reference of layer k reads the
// engine's own float outputs of the layers k reads (taken from the engine on the model cut
// after those layers), so every layer of every model is checked against the rigorous bound.
// Whole model: the reference also runs from the model input alone, all in double. A rigorous
// bound would have to push |W| through every layer and grows by several times per layer, so it
// says nothing after a dozen layers; instead the weights are scaled like He initialisation
// (activations stay of order one) and the output must agree to 1e-5 of its largest magnitude;
// the errors measured are about 1e-7 of it. A wrong buffer, weight or activation is off by far
// more than either bound.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "float_bound.h"
#include "model_builder.h"
#include "test_util.h"
#include "ubp/device/engine.h"

namespace ubp::device {
namespace {

using kernels::testing::random_floats;
using ubp::device::testing::ModelBuilder;

constexpr Activation kActivations[] = {Activation::kNone, Activation::kRelu, Activation::kRelu6};

// ---- building models ----

// MobileNetV1's pattern: a strided 3x3 stem, then depthwise 3x3 (stride 1 and 2) each followed
// by a pointwise convolution in dense, aligned, unaligned (WROS) or unaligned-naive storage,
// global pool, classifier.
// Odd, non-square input and channel counts that are not multiples of the kernels' 8-row panels.
PackedModel mobilenet_like(Activation act, uint64_t seed) {
  ModelBuilder b("mobilenet-like", {3, 15, 13}, seed);
  b.conv("conv_stem", 8, 3, 2, 1, act, WeightStorage::kDense);
  b.depthwise("dw1", 1, act);
  b.conv("pw1", 12, 1, 1, 0, act, WeightStorage::kDense);
  b.depthwise("dw2", 2, act, WeightStorage::kAligned);
  b.conv("pw2", 20, 1, 1, 0, act, WeightStorage::kAligned);
  b.depthwise("dw3", 1, act);
  b.conv("pw3", 20, 1, 1, 0, act, WeightStorage::kUnaligned);
  b.depthwise("dw4", 2, act, WeightStorage::kUnaligned);
  b.conv("pw4", 28, 1, 1, 0, act, WeightStorage::kUnaligned);
  b.depthwise("dw5", 1, act);
  b.conv("pw5", 28, 1, 1, 0, act, WeightStorage::kUnalignedNaive);
  b.pool("avgpool", PoolKind::kGlobalAverage);
  b.fc("fc", 10, act, WeightStorage::kUnaligned);
  return b.model();
}

// A bottleneck exported as the plan prescribes: conv1, conv2, conv3 (no activation), the
// downsample branch reading the block input (input_from), then the add with ReLU-like `act`.
int bottleneck(ModelBuilder& b, const std::string& name, int block_input, int64_t mid,
               int64_t out, int stride, bool downsample, Activation act,
               WeightStorage storage) {
  b.conv(name + ".conv1", mid, 1, 1, 0, act, storage);
  b.conv(name + ".conv2", mid, 3, stride, 1, act, storage);
  const int conv3 = b.conv(name + ".conv3", out, 1, 1, 0, Activation::kNone, storage);
  if (!downsample) return b.add(name + ".add", block_input, act);
  b.conv(name + ".downsample", out, 1, stride, 0, Activation::kNone, storage, block_input);
  return b.add(name + ".add", conv3, act);
}

// ResNet's pattern: a 3x3 or 7x7 stem, max pool, bottlenecks with and without downsampling
// (stride 1 and 2), global pool, classifier.
PackedModel resnet_like(Activation act, int stem_kernel, uint64_t seed) {
  ModelBuilder b("resnet-like", {3, 21, 18}, seed);
  b.conv("conv1", 8, stem_kernel, 2, stem_kernel / 2, act, WeightStorage::kDense);
  int x = b.pool("maxpool", PoolKind::kMax, 3, 2, 1);
  x = bottleneck(b, "layer1.0", x, 4, 16, 1, true, act, WeightStorage::kDense);
  x = bottleneck(b, "layer1.1", x, 4, 16, 1, false, act, WeightStorage::kAligned);
  x = bottleneck(b, "layer2.0", x, 8, 32, 2, true, act, WeightStorage::kUnaligned);
  // The naive unaligned kernel also on a 3x3 convolution (through im2col).
  x = bottleneck(b, "layer2.1", x, 8, 32, 1, false, act, WeightStorage::kUnalignedNaive);
  b.pool("avgpool", PoolKind::kGlobalAverage);
  // No activation, as in ResNet: every logit then checks the whole model.
  b.fc("fc", 10, Activation::kNone, WeightStorage::kAligned);
  return b.model();
}

std::vector<float> random_input(const PackedModel& model, uint64_t seed) {
  std::vector<float> x =
      random_floats(model.input_shape[0] * model.input_shape[1] * model.input_shape[2], seed);
  // Inputs of a few units make relu6 clamp some activations.
  for (float& v : x) v *= 3.0f;
  return x;
}

// ---- the reference ----

using testing::Expected;

double clamp_reference(double v, Activation act) {
  if (act != Activation::kNone) v = std::max(v, 0.0);
  if (act == Activation::kRelu6) v = std::min(v, 6.0);
  return v;
}

// One layer from its definition. `x` is the input, `residual` the other summand of an add.
Expected reference_layer(const Layer& layer, const std::vector<double>& x,
                         const std::vector<double>& residual) {
  const int64_t c_in = layer.input_shape[0], h_in = layer.input_shape[1],
                w_in = layer.input_shape[2];
  const int64_t c_out = layer.output_shape[0], h_out = layer.output_shape[1],
                w_out = layer.output_shape[2];
  auto at = [&](int64_t c, int64_t y, int64_t x_) { return (c * h_in + y) * w_in + x_; };
  Expected e;
  std::vector<float> w, bias;
  if (layer.has_weights()) {
    w = layer.weights.matrix();
    bias = layer.weights.bias();
  }
  const int64_t kh = layer.kernel_h, kw = layer.kernel_w;
  switch (layer.kind) {
    case LayerKind::kConv:
    case LayerKind::kPointwise:
    case LayerKind::kDepthwise: {
      const bool depthwise = layer.kind == LayerKind::kDepthwise;
      e.terms = (depthwise ? 1 : c_in) * kh * kw;
      for (int64_t o = 0; o < c_out; ++o) {
        for (int64_t oy = 0; oy < h_out; ++oy) {
          for (int64_t ox = 0; ox < w_out; ++ox) {
            double sum = bias[o], magnitude = std::abs(bias[o]);
            for (int64_t c = depthwise ? o : 0; c < (depthwise ? o + 1 : c_in); ++c) {
              for (int64_t ky = 0; ky < kh; ++ky) {
                for (int64_t kx = 0; kx < kw; ++kx) {
                  const int64_t iy = oy * layer.stride + ky - layer.padding;
                  const int64_t ix = ox * layer.stride + kx - layer.padding;
                  if (iy < 0 || iy >= h_in || ix < 0 || ix >= w_in) continue;
                  // Row o of the matrix: (cin, ky, kx) for a convolution, (ky, kx) depthwise.
                  const int64_t col = ((depthwise ? 0 : c) * kh + ky) * kw + kx;
                  const double term = double{w[o * e.terms + col]} * x[at(c, iy, ix)];
                  sum += term;
                  magnitude += std::abs(term);
                }
              }
            }
            e.value.push_back(clamp_reference(sum, layer.activation));
            e.magnitude.push_back(magnitude);
          }
        }
      }
      break;
    }
    case LayerKind::kFc: {
      const int64_t n = c_in * h_in * w_in;
      e.terms = n;
      for (int64_t o = 0; o < c_out; ++o) {
        double sum = bias[o], magnitude = std::abs(bias[o]);
        for (int64_t i = 0; i < n; ++i) {
          const double term = double{w[o * n + i]} * x[i];
          sum += term;
          magnitude += std::abs(term);
        }
        e.value.push_back(clamp_reference(sum, layer.activation));
        e.magnitude.push_back(magnitude);
      }
      break;
    }
    case LayerKind::kAdd:
      e.terms = 2;
      for (size_t i = 0; i < x.size(); ++i) {
        e.value.push_back(clamp_reference(x[i] + residual[i], layer.activation));
        e.magnitude.push_back(std::abs(x[i]) + std::abs(residual[i]));
      }
      break;
    case LayerKind::kPool:
      if (layer.pool == PoolKind::kGlobalAverage) {
        e.terms = h_in * w_in;
        for (int64_t c = 0; c < c_in; ++c) {
          double sum = 0, magnitude = 0;
          for (int64_t i = 0; i < h_in * w_in; ++i) {
            sum += x[c * h_in * w_in + i];
            magnitude += std::abs(x[c * h_in * w_in + i]);
          }
          e.value.push_back(clamp_reference(sum / static_cast<double>(h_in * w_in),
                                            layer.activation));
          e.magnitude.push_back(magnitude / static_cast<double>(h_in * w_in));
        }
        break;
      }
      // Max pooling: padding never wins (PyTorch pads with -infinity); exact.
      for (int64_t c = 0; c < c_in; ++c) {
        for (int64_t oy = 0; oy < h_out; ++oy) {
          for (int64_t ox = 0; ox < w_out; ++ox) {
            double best = -INFINITY;
            for (int64_t ky = 0; ky < kh; ++ky) {
              for (int64_t kx = 0; kx < kw; ++kx) {
                const int64_t iy = oy * layer.stride + ky - layer.padding;
                const int64_t ix = ox * layer.stride + kx - layer.padding;
                if (iy >= 0 && iy < h_in && ix >= 0 && ix < w_in) {
                  best = std::max(best, x[at(c, iy, ix)]);
                }
              }
            }
            e.value.push_back(clamp_reference(best, layer.activation));
            e.magnitude.push_back(std::abs(best));
          }
        }
      }
      break;
  }
  return e;
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// The value a layer reads (-1: the model input).
int source_of(const PackedModel& model, size_t index) {
  const int from = model.layers[index].input_from;
  return from == kPreviousLayer ? static_cast<int>(index) - 1 : from;
}

// The whole model in double from the input alone.
std::vector<double> reference_forward(const PackedModel& model, const std::vector<float>& input) {
  std::vector<std::vector<double>> values;  // values[i + 1]: output of layer i
  values.push_back(to_double(input));
  for (size_t i = 0; i < model.layers.size(); ++i) {
    const Layer& layer = model.layers[i];
    const auto& x = values[static_cast<size_t>(source_of(model, i) + 1)];
    const auto& residual =
        layer.kind == LayerKind::kAdd ? values[static_cast<size_t>(layer.residual_from + 1)] : x;
    values.push_back(reference_layer(layer, x, residual).value);
  }
  return values.back();
}

// Expects every element within the one-layer bound described at the top of the file.
void expect_within_layer_bound(const std::vector<float>& actual, const Expected& expected,
                               const std::string& what) {
  testing::expect_within_float_bound(actual, expected, what);
}

std::vector<float> run_engine(const PackedModel& model, const std::vector<float>& input,
                              int threads = 1) {
  Engine engine(model, threads);
  return engine.run(input);
}

// Layer by layer: the engine on the model cut after layer k must give the reference of layer k
// applied to the engine's outputs (models cut after its sources) of what layer k reads.
void expect_every_layer_matches_reference(const PackedModel& model,
                                          const std::vector<float>& input) {
  std::vector<std::vector<float>> outputs;  // outputs[k + 1]: the engine's output of layer k
  outputs.push_back(input);
  for (size_t k = 0; k < model.layers.size(); ++k) {
    PackedModel cut = model;
    cut.layers.resize(k + 1);
    outputs.push_back(run_engine(cut, input));
    const Layer& layer = model.layers[k];
    const auto x = to_double(outputs[static_cast<size_t>(source_of(model, k) + 1)]);
    const auto residual = layer.kind == LayerKind::kAdd
                              ? to_double(outputs[static_cast<size_t>(layer.residual_from + 1)])
                              : x;
    expect_within_layer_bound(outputs.back(), reference_layer(layer, x, residual),
                              model.name + " layer " + std::to_string(k) + " '" + layer.name +
                                  "' (" + to_string(layer.kind) + ", " +
                                  kernels::to_string(layer.activation) + ")");
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// Whole model from the input: within 1e-5 of the output's largest magnitude (see the top).
void expect_model_matches_reference(const PackedModel& model, const std::vector<float>& input,
                                    const std::string& what) {
  const std::vector<float> actual = run_engine(model, input);
  const std::vector<double> expected = reference_forward(model, input);
  ASSERT_EQ(actual.size(), expected.size()) << what;
  double scale = 0;
  for (double v : expected) scale = std::max(scale, std::abs(v));
  ASSERT_GT(scale, 0.0) << what << ": an all-zero output would check nothing";
  for (size_t i = 0; i < actual.size(); ++i) {
    ASSERT_LE(std::abs(actual[i] - expected[i]), 1e-5 * scale)
        << what << ": element " << i << " is " << actual[i] << ", expected " << expected[i];
  }
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// ---- the models against the reference ----

TEST(Engine, MobileNetLikeModelsMatchTheReferenceForEveryActivation) {
  uint64_t seed = 10;
  for (Activation act : kActivations) {
    const PackedModel model = mobilenet_like(act, seed += 100);
    const std::vector<float> input = random_input(model, seed);
    const std::string what = "mobilenet-like " + kernels::to_string(act);
    SCOPED_TRACE(what);
    expect_every_layer_matches_reference(model, input);
    expect_model_matches_reference(model, input, what);
  }
}

TEST(Engine, ResNetLikeModelsMatchTheReferenceForEveryActivationAndStem) {
  uint64_t seed = 20;
  for (int stem : {3, 7}) {
    for (Activation act : kActivations) {
      const PackedModel model = resnet_like(act, stem, seed += 100);
      const std::vector<float> input = random_input(model, seed);
      const std::string what =
          "resnet-like stem " + std::to_string(stem) + " " + kernels::to_string(act);
      SCOPED_TRACE(what);
      expect_every_layer_matches_reference(model, input);
      expect_model_matches_reference(model, input, what);
    }
  }
}

TEST(Engine, OneAndThreeThreadsGiveIdenticalBits) {
  for (const PackedModel& model :
       {mobilenet_like(Activation::kRelu6, 1), resnet_like(Activation::kRelu, 7, 2)}) {
    const std::vector<float> input = random_input(model, 3);
    Engine three(model, 3);
    EXPECT_EQ(three.threads(), 3);
    EXPECT_TRUE(bitwise_equal(run_engine(model, input, 1), three.run(input))) << model.name;
  }
}

Engine fused_engine(const PackedModel& model, int threads) {
  EngineOptions options;
  options.fuse_depthwise_pointwise = true;
  return Engine(model, threads, options);
}

// Each depthwise layer and its 1x1 layer as one job split by rows: the same bits as the layers
// one by one, on any thread count, timed or not (one time per layer, the pair's shared out).
TEST(Engine, FusingDepthwiseAnd1x1LayersKeepsEveryBitForAnyThreadCount) {
  uint64_t seed = 70;
  for (Activation act : kActivations) {
    const PackedModel model = mobilenet_like(act, seed += 10);
    const std::vector<float> input = random_input(model, seed);
    const std::vector<float> separate = run_engine(model, input, 1);
    for (int threads : {1, 2, 3}) {
      Engine fused = fused_engine(model, threads);
      const std::string what = kernels::to_string(act) + ", " + std::to_string(threads) + " threads";
      EXPECT_TRUE(bitwise_equal(fused.run(input), separate)) << what;
      std::vector<double> seconds;
      const float* timed = fused.run(input.data(), &seconds);
      EXPECT_TRUE(bitwise_equal(std::vector<float>(timed, timed + fused.output_shape().size()),
                                separate))
          << what << ", timed";
      ASSERT_EQ(seconds.size(), model.layers.size()) << what;
      for (size_t i = 0; i < seconds.size(); ++i) {
        EXPECT_GT(seconds[i], 0.0) << what << ", layer " << i << " '" << model.layers[i].name << "'";
      }
    }
  }
}

// A depthwise output that a later add reads as well stays a layer of its own; the model is still
// computed right with fusion on.
TEST(Engine, FusionLeavesADepthwiseOutputWithTwoReadersAlone) {
  ModelBuilder b("shared-depthwise", {3, 11, 9}, 81);
  b.conv("conv_stem", 8, 3, 1, 1, Activation::kRelu, WeightStorage::kDense);
  const int dw = b.depthwise("dw", 1, Activation::kRelu);
  b.conv("pw", 8, 1, 1, 0, Activation::kNone, WeightStorage::kUnaligned);
  b.add("add", dw, Activation::kRelu);
  b.depthwise("dw2", 2, Activation::kRelu);
  b.conv("pw2", 12, 1, 1, 0, Activation::kRelu, WeightStorage::kAligned);
  b.pool("avgpool", PoolKind::kGlobalAverage);
  b.fc("fc", 5, Activation::kNone, WeightStorage::kDense);
  const PackedModel model = b.model();
  const std::vector<float> input = random_input(model, 82);
  const std::vector<float> separate = run_engine(model, input, 1);
  expect_model_matches_reference(model, input, model.name);
  for (int threads : {1, 2}) {
    Engine fused = fused_engine(model, threads);
    EXPECT_TRUE(bitwise_equal(fused.run(input), separate)) << threads << " threads";
  }
}

// The naive unaligned kernel runs the same operations as WROS on the same arrays: swapping the
// storage of every unaligned layer between unaligned and unaligned-naive keeps every bit.
TEST(Engine, UnalignedNaiveStorageGivesTheSameBitsAsWros) {
  for (const PackedModel& model :
       {mobilenet_like(Activation::kRelu6, 5), resnet_like(Activation::kRelu, 3, 6)}) {
    PackedModel swapped = model;
    int swaps = 0;
    for (Layer& layer : swapped.layers) {
      if (!layer.has_weights()) continue;
      WeightStorage& s = layer.weights.storage;
      if (s == WeightStorage::kUnaligned || s == WeightStorage::kUnalignedNaive) {
        s = s == WeightStorage::kUnaligned ? WeightStorage::kUnalignedNaive
                                           : WeightStorage::kUnaligned;
        ++swaps;
      }
    }
    ASSERT_GE(swaps, 2) << model.name;
    const std::vector<float> input = random_input(model, 7);
    EXPECT_TRUE(bitwise_equal(run_engine(model, input), run_engine(swapped, input))) << model.name;
  }
}

// A value read long after it was made, while the layers in between free and reuse buffers
// around it: if the planner handed its buffer to one of them, the adds would see garbage.
TEST(Engine, OutputsReadFarBackSurviveTheBufferReuseInBetween) {
  ModelBuilder b("far-residual", {6, 7, 5}, 77);
  const Activation act = Activation::kRelu;
  const int first = b.conv("first", 6, 3, 1, 1, act, WeightStorage::kDense);
  for (int i = 0; i < 6; ++i) {
    b.conv("chain" + std::to_string(i), 6, 1, 1, 0, act,
           i % 2 == 0 ? WeightStorage::kDense : WeightStorage::kUnaligned);
  }
  const int unused = b.conv("unused", 6, 1, 1, 0, act, WeightStorage::kDense);
  // Skips `unused` (its output is never read) and goes on from the layer before it.
  const int sum = b.add("add_first", first, act, unused - 1);
  b.conv("branch", 6, 3, 1, 1, act, WeightStorage::kAligned, first);
  b.add("add_branch", sum, act);
  b.add("add_input", kModelInput, Activation::kNone);
  // Pooling operators have no fused activation; the engine applies a layer's own.
  b.pool("max_relu6", PoolKind::kMax, 3, 1, 1, Activation::kRelu6);
  const PackedModel& model = b.model();

  const std::vector<float> input = random_input(model, 5);
  const std::vector<float> input_copy = input;
  expect_every_layer_matches_reference(model, input);
  expect_model_matches_reference(model, input, model.name);

  Engine engine(model, 1);
  const float* y = engine.run(input.data());
  EXPECT_TRUE(bitwise_equal(input, input_copy)) << "the engine wrote the caller's input";
  EXPECT_TRUE(bitwise_equal(std::vector<float>(y, y + engine.output_shape().size()),
                            run_engine(model, input)));
}

// ---- files, repeated runs, timing ----

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("ubp_engine_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

TEST(Engine, AModelReadBackFromItsFileGivesTheSameBits) {
  const PackedModel model = resnet_like(Activation::kRelu, 3, 31);
  const std::string path = temp_path("resnet_like.ubpm");
  write_model_file(path, model);
  const PackedModel back = read_model_file(path);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
  const std::vector<float> input = random_input(model, 32);
  EXPECT_TRUE(bitwise_equal(run_engine(back, input), run_engine(model, input)));
}

TEST(Engine, RunningTwiceGivesTheSameOutputAndANewInputANewOne) {
  const PackedModel model = mobilenet_like(Activation::kRelu, 41);
  Engine engine(model, 2);
  const std::vector<float> a = random_input(model, 42), b = random_input(model, 43);
  const std::vector<float> first = engine.run(a);
  const std::vector<float> other = engine.run(b);
  const std::vector<float> again = engine.run(a);
  EXPECT_TRUE(bitwise_equal(first, again));
  EXPECT_FALSE(bitwise_equal(first, other)) << "the output does not depend on the input";
}

TEST(Engine, ReportsShapesAndOneTimePerLayer) {
  const PackedModel model = resnet_like(Activation::kRelu6, 7, 51);
  Engine engine(model, 1);
  EXPECT_EQ(engine.num_layers(), model.layers.size());
  EXPECT_EQ(engine.input_shape(), (ImageShape{3, 21, 18}));
  EXPECT_EQ(engine.output_shape(), (ImageShape{10, 1, 1}));
  EXPECT_EQ(engine.model().name, model.name);
  std::vector<double> seconds = {-1.0};
  const std::vector<float> input = random_input(model, 52);
  const float* timed = engine.run(input.data(), &seconds);
  const std::vector<float> timed_output(timed, timed + engine.output_shape().size());
  ASSERT_EQ(seconds.size(), engine.num_layers());
  double total = 0;
  for (double s : seconds) {
    EXPECT_GE(s, 0.0);
    total += s;
  }
  EXPECT_GT(total, 0.0);
  EXPECT_TRUE(bitwise_equal(timed_output, engine.run(input))) << "timing changed the output";
}

TEST(Engine, RejectsAnInputOfTheWrongSizeAndZeroThreads) {
  const PackedModel model = mobilenet_like(Activation::kRelu, 61);
  Engine engine(model, 1);
  EXPECT_THROW(engine.run(std::vector<float>(7)), std::invalid_argument);
  EXPECT_THROW(Engine(model, 0), std::invalid_argument);
}

// ---- single layers ----

TEST(SingleLayerModel, EachLayerAloneMatchesTheReferenceOfThatLayer) {
  for (const PackedModel& model :
       {mobilenet_like(Activation::kRelu6, 71), resnet_like(Activation::kRelu, 7, 72)}) {
    for (size_t i = 0; i < model.layers.size(); ++i) {
      const PackedModel single = single_layer_model(model, i);
      const Layer& layer = model.layers[i];
      ASSERT_EQ(single.layers.size(), 1u);
      EXPECT_EQ(single.input_shape, layer.input_shape);
      const std::vector<float> input = random_input(single, 100 + i);
      const auto x = to_double(input);
      // An add alone adds its input to itself.
      expect_within_layer_bound(run_engine(single, input), reference_layer(layer, x, x),
                                model.name + " layer " + std::to_string(i) + " '" + layer.name +
                                    "' alone");
    }
  }
}

TEST(SingleLayerModel, ABadIndexIsOutOfRange) {
  const PackedModel model = mobilenet_like(Activation::kRelu, 81);
  EXPECT_THROW(single_layer_model(model, model.layers.size()), std::out_of_range);
}

// ---- models the engine refuses ----

void expect_rejected_with(const PackedModel& model, const EngineOptions& options,
                          const std::vector<std::string>& pieces) {
  try {
    Engine engine(model, 1, options);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    for (const auto& piece : pieces) EXPECT_NE(message.find(piece), std::string::npos) << message;
  }
}

void expect_rejected(const PackedModel& model, const std::vector<std::string>& pieces) {
  expect_rejected_with(model, EngineOptions{}, pieces);
}

TEST(Engine, RejectsADepthwiseOtherThan3x3NamingTheLayer) {
  ModelBuilder b("dw5", {4, 9, 9}, 91);
  b.depthwise("dw3", 1, Activation::kRelu);
  b.depthwise("dw5", 1, Activation::kRelu, WeightStorage::kDense, 5);
  expect_rejected(b.model(), {"layer 1 'dw5'", "depthwise 3x3", "kernel 5x5"});
}

TEST(Engine, RejectsANonGlobalAveragePoolNamingTheLayer) {
  ModelBuilder b("avg", {4, 8, 8}, 92);
  b.conv("conv", 4, 3, 1, 1, Activation::kRelu, WeightStorage::kDense);
  b.pool("avg2x2", PoolKind::kAverage, 2, 2, 0);
  expect_rejected(b.model(), {"layer 1 'avg2x2'", "average pooling", "max, global_average"});
}

TEST(Engine, RejectsAnInconsistentModelWithTheModelFileCheck) {
  PackedModel model = mobilenet_like(Activation::kRelu, 93);
  model.layers[2].weights.dense.pop_back();
  expect_rejected(model, {"mobilenet-like", "layer 2 'pw1'"});
}

}  // namespace
}  // namespace ubp::device

namespace ubp::device {
namespace {

// A file of a few hundred bytes can declare feature maps of two billion floats each; the engine
// adds up what it would allocate first and refuses, naming the layer.
TEST(Engine, RefusesFeatureMapsPastTheMemoryLimitNamingTheLayer) {
  ModelBuilder b("huge-maps", {1, 46000, 46000}, 94);
  b.pool("pool", PoolKind::kMax, 1, 1, 0);
  expect_rejected(b.model(), {"layer 0 'pool'", "input and output feature maps 16143.8 MiB", "more than the engine's memory limit"});
}

TEST(Engine, TheMemoryLimitCountsWhatTheModelAllocates) {
  const PackedModel model = mobilenet_like(Activation::kRelu, 95);
  const Engine engine(model, 1);
  const EngineMemory& needed = engine.memory();
  EXPECT_GT(needed.activations, 0);
  EXPECT_GT(needed.weights, 0);
  EXPECT_LE(needed.total(), default_engine_memory_limit());
  // Exactly enough runs; one byte less is refused with the totals.
  EXPECT_NO_THROW(Engine(model, 1, EngineOptions{needed.total()}));
  expect_rejected_with(model, EngineOptions{needed.total() - 1}, {"mobilenet-like", "more than the engine's memory limit"});
}

}  // namespace
}  // namespace ubp::device
