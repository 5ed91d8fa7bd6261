// Building small packed models for the device tests (test_engine.cpp, test_devbench.cpp,
// test_model_file.cpp), header-only so that the aarch64 cross build, which compiles these tests
// from UBP_DEVICE_*_TEST_SOURCES, needs no extra source file.
//
//   make_layer      a layer skeleton: name, kind, shapes, window, activation; no weights.
//   random_weights  random weights of a rows x cols layer in dense, aligned or unaligned storage,
//                   from explicit seeds, optionally He-scaled.
//   ModelBuilder    appends layers one call per layer, working out every input and output shape
//                   and drawing He-scaled weights from one seed, so a test spells out only its
//                   topology.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"
#include "ubp/device/model_file.h"

namespace ubp::device::testing {

using Shape = std::array<int64_t, 3>;  // channels x height x width

// A layer with everything but its weights (and input_from, residual_from, pool, which keep the
// Layer defaults: previous layer, model input, max).
inline Layer make_layer(const std::string& name, LayerKind kind, Shape in, Shape out, int kernel,
                        int stride, int padding, kernels::Activation activation) {
  Layer layer;
  layer.name = name;
  layer.kind = kind;
  layer.input_shape = in;
  layer.output_shape = out;
  layer.kernel_h = layer.kernel_w = kernel;
  layer.stride = stride;
  layer.padding = padding;
  layer.activation = activation;
  return layer;
}

// Output extent of a window of `kernel` sliding with `stride` over `in` padded by `padding`.
inline int64_t window_output(int64_t in, int kernel, int stride, int padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

// Number of (possibly partial) block-shaped tiles covering a rows x cols matrix.
inline int64_t tile_count(int64_t rows, int64_t cols, kernels::BlockShape block) {
  return (rows + block.rows - 1) / block.rows * ((cols + block.cols - 1) / block.cols);
}

// How random_weights draws a layer's weights.
struct WeightSpec {
  WeightStorage storage = WeightStorage::kDense;
  kernels::BlockShape block{4, 1};  // sparse storage
  // Sparse storage: the number of blocks kept; -1 keeps half of the matrix
  // (kernels::testing::blocks_for_sparsity at sparsity 0.5, at least one block).
  int64_t blocks = -1;
  // Weights uniform in +-sqrt(6 / cols) instead of +-1: He initialisation (variance 2 / fan-in),
  // which keeps activations of order one through a deep model.
  bool he_scale = false;
  float bias_scale = 1.0f;  // the bias, uniform in +-1, times this
};

// Seeds of the three random streams random_weights draws from.
struct WeightSeeds {
  uint64_t weights = 0;
  uint64_t bias = 0;
  uint64_t mask = 0;  // which blocks sparse storage keeps; unused for dense storage
};

// Random weights of a rows x cols layer (rows = output channels, cols = fan-in) as `spec` says.
inline LayerWeights random_weights(int64_t rows, int64_t cols, const WeightSpec& spec,
                                   const WeightSeeds& seeds) {
  std::vector<float> w = kernels::testing::random_floats(rows * cols, seeds.weights);
  if (spec.he_scale) {
    const float scale = static_cast<float>(std::sqrt(6.0 / static_cast<double>(cols)));
    for (float& v : w) v *= scale;
  }
  std::vector<float> bias = kernels::testing::random_floats(rows, seeds.bias);
  if (spec.bias_scale != 1.0f) {
    for (float& v : bias) v *= spec.bias_scale;
  }
  const int64_t blocks =
      spec.blocks >= 0
          ? spec.blocks
          : std::max<int64_t>(1, kernels::testing::blocks_for_sparsity(rows, cols, spec.block, 0.5));
  LayerWeights lw;
  lw.storage = spec.storage;
  switch (spec.storage) {
    case WeightStorage::kDense:
      lw.dense = std::move(w);
      lw.dense_bias = std::move(bias);
      break;
    case WeightStorage::kAligned:
      lw.aligned = kernels::pack_aligned(
          w.data(), bias.data(), rows, cols, spec.block,
          kernels::testing::random_aligned_blocks(rows, cols, spec.block, blocks, seeds.mask));
      break;
    case WeightStorage::kUnaligned:
    case WeightStorage::kUnalignedNaive:  // the same arrays, run by another kernel
      lw.unaligned = kernels::pack_unaligned(
          w.data(), bias.data(), rows, cols, spec.block,
          kernels::testing::random_unaligned_blocks(rows, cols, spec.block, blocks, seeds.mask));
      break;
  }
  return lw;
}

// Appends layers to a model, keeping track of shapes: each call adds one layer reading the
// previous layer's output (or `input_from`), computes its output shape and returns its index.
//
// Weights: uniform in +-sqrt(6 / fan-in) (He initialisation), so activations stay of order one
// through the model (relu6 clamps some, whole-model tolerances stay meaningful); bias uniform in
// +-0.5; sparse storage keeps half of the 4x1 blocks. The streams are seeded seed + 1, + 2, ...
// in the order the layers are added (weights, bias, then the block mask of sparse storage), so
// a model is a function of its topology and the seed.
class ModelBuilder {
 public:
  ModelBuilder(const std::string& name, Shape input_shape, uint64_t seed) : seed_(seed) {
    model_.name = name;
    model_.input_shape = input_shape;
  }

  // A convolution (a pointwise one when kernel == 1) to out_channels channels.
  int conv(const std::string& name, int64_t out_channels, int kernel, int stride, int padding,
           kernels::Activation act, WeightStorage storage, int input_from = kPreviousLayer) {
    const Shape in = shape_of(input_from);
    Layer layer = make_layer(name, kernel == 1 ? LayerKind::kPointwise : LayerKind::kConv, in,
                             {out_channels, window_output(in[1], kernel, stride, padding),
                              window_output(in[2], kernel, stride, padding)},
                             kernel, stride, padding, act);
    layer.input_from = input_from;
    layer.weights = next_weights(out_channels, in[0] * kernel * kernel, storage);
    return append(std::move(layer));
  }

  // A depthwise convolution, padded by kernel / 2.
  int depthwise(const std::string& name, int stride, kernels::Activation act,
                WeightStorage storage = WeightStorage::kDense, int kernel = 3) {
    const Shape in = shape_of(kPreviousLayer);
    const int padding = kernel / 2;
    Layer layer = make_layer(name, LayerKind::kDepthwise, in,
                             {in[0], window_output(in[1], kernel, stride, padding),
                              window_output(in[2], kernel, stride, padding)},
                             kernel, stride, padding, act);
    layer.weights = next_weights(in[0], int64_t{kernel} * kernel, storage);
    return append(std::move(layer));
  }

  // A pooling layer; global average pooling ignores the window and outputs channels x 1 x 1.
  int pool(const std::string& name, PoolKind kind, int kernel = 1, int stride = 1,
           int padding = 0, kernels::Activation act = kernels::Activation::kNone) {
    const Shape in = shape_of(kPreviousLayer);
    const Shape out = kind == PoolKind::kGlobalAverage
                          ? Shape{in[0], 1, 1}
                          : Shape{in[0], window_output(in[1], kernel, stride, padding),
                                  window_output(in[2], kernel, stride, padding)};
    Layer layer = make_layer(name, LayerKind::kPool, in, out, kernel, stride, padding, act);
    layer.pool = kind;
    return append(std::move(layer));
  }

  // A fully connected layer over the whole input to `out` outputs.
  int fc(const std::string& name, int64_t out, kernels::Activation act, WeightStorage storage) {
    const Shape in = shape_of(kPreviousLayer);
    Layer layer = make_layer(name, LayerKind::kFc, in, {out, 1, 1}, 1, 1, 0, act);
    layer.weights = next_weights(out, in[0] * in[1] * in[2], storage);
    return append(std::move(layer));
  }

  // y = act(input + output of `residual_from`).
  int add(const std::string& name, int residual_from, kernels::Activation act,
          int input_from = kPreviousLayer) {
    const Shape in = shape_of(input_from);
    Layer layer = make_layer(name, LayerKind::kAdd, in, in, 1, 1, 0, act);
    layer.input_from = input_from;
    layer.residual_from = residual_from;
    return append(std::move(layer));
  }

  const PackedModel& model() const { return model_; }

 private:
  int last() const { return static_cast<int>(model_.layers.size()) - 1; }

  // The shape a layer reading `input_from` sees.
  Shape shape_of(int input_from) const {
    const int source = input_from == kPreviousLayer ? last() : input_from;
    return source < 0 ? model_.input_shape
                      : model_.layers[static_cast<size_t>(source)].output_shape;
  }

  int append(Layer layer) {
    model_.layers.push_back(std::move(layer));
    return last();
  }

  LayerWeights next_weights(int64_t rows, int64_t cols, WeightStorage storage) {
    WeightSpec spec;
    spec.storage = storage;
    spec.he_scale = true;
    spec.bias_scale = 0.5f;
    const WeightSeeds seeds{seed_ + 1, seed_ + 2, seed_ + 3};
    seed_ += storage == WeightStorage::kDense ? 2 : 3;
    return random_weights(rows, cols, spec, seeds);
  }

  PackedModel model_;
  uint64_t seed_;
};

}  // namespace ubp::device::testing
