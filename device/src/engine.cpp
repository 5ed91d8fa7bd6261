// The device inference engine (see engine.h): plans once, then runs the layers on ops.h.
//
// Values: the model input is value -1, layer i's output is value i. A layer reads the value its
// input_from names (an add also reads residual_from). Every value gets one buffer; buffers are
// shared between values whose lifetimes do not overlap, so a ResNet-50 needs a handful of
// activation buffers rather than one per layer.
#include "ubp/device/engine.h"

#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace ubp::device {
namespace {

[[noreturn]] void reject_layer(size_t index, const Layer& layer, const std::string& what) {
  throw std::invalid_argument("engine: layer " + std::to_string(index) + " '" + layer.name +
                              "' (" + to_string(layer.kind) + "): " + what);
}

ImageShape image_of(const std::array<int64_t, 3>& s) { return {s[0], s[1], s[2]}; }

// The value a layer reads as its input.
int input_value(const Layer& layer, size_t index) {
  return layer.input_from == kPreviousLayer ? static_cast<int>(index) - 1 : layer.input_from;
}

std::string window_text(const Layer& layer) {
  return "kernel " + std::to_string(layer.kernel_h) + "x" + std::to_string(layer.kernel_w) +
         ", stride " + std::to_string(layer.stride) + ", padding " +
         std::to_string(layer.padding);
}

// The kernels' format for a convolution's weights: dense weights go into dense_ours' panels;
// sparse formats are already what spmm_aligned / spmm_unaligned / spmm_unaligned_naive read.
PackedWeights packed_weights(const LayerWeights& w) {
  if (w.storage == WeightStorage::kDense) {
    return kernels::pack_dense(w.dense.data(), w.dense_bias.data(), w.rows(), w.cols());
  }
  if (w.storage == WeightStorage::kAligned) return w.aligned;
  if (w.storage == WeightStorage::kUnalignedNaive) return NaiveUnalignedWeights{w.unaligned};
  return w.unaligned;
}

void apply_activation(float* y, int64_t count, Activation act) {
  if (act == Activation::kNone) return;
  const float hi = act == Activation::kRelu6 ? 6.0f : std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < count; ++i) y[i] = std::min(std::max(y[i], 0.0f), hi);
}

// Assigns buffers to values so that two values share a buffer only when their lifetimes do not
// overlap. A value is live from the layer that writes it to the last layer that reads it; a
// layer's output is placed while its inputs are still live, so it never aliases them.
class BufferPlanner {
 public:
  // A buffer for `floats` floats: the smallest free one that is large enough, else the largest
  // free one (grown), else a new one.
  int acquire(int64_t floats) {
    // Prefers fitting over not fitting; among fitting, smaller; among too small, larger.
    auto better = [floats](int64_t capacity, int64_t best_capacity) {
      const bool fits = capacity >= floats, best_fits = best_capacity >= floats;
      if (fits != best_fits) return fits;
      return fits ? capacity < best_capacity : capacity > best_capacity;
    };
    int best = -1;
    for (int id : free_) {
      if (best < 0 || better(capacity_[static_cast<size_t>(id)],
                             capacity_[static_cast<size_t>(best)])) {
        best = id;
      }
    }
    if (best < 0) {
      capacity_.push_back(floats);
      return static_cast<int>(capacity_.size()) - 1;
    }
    free_.erase(std::find(free_.begin(), free_.end(), best));
    int64_t& capacity = capacity_[static_cast<size_t>(best)];
    capacity = std::max(capacity, floats);
    return best;
  }
  void release(int id) { free_.push_back(id); }
  const std::vector<int64_t>& capacities() const { return capacity_; }

 private:
  std::vector<int64_t> capacity_;
  std::vector<int> free_;
};

// Dense few-channel convolutions (the first layer) run directly from the image, without im2col;
// sparse ones stay on their packed kernels.
bool runs_direct_in_engine(const Layer& layer) {
  return layer.kind == LayerKind::kConv && layer.weights.storage == WeightStorage::kDense &&
         runs_direct(layer.input_shape[0], {layer.kernel_h, layer.stride, layer.padding});
}

}  // namespace

struct Engine::Impl {
  // One layer, ready to run: weights in the operator's format and its buffers resolved.
  struct Step {
    const Layer* layer = nullptr;
    ImageShape in, out;
    ConvParams params;
    PackedWeights packed;             // conv, pointwise
    std::vector<float> matrix, bias;  // depthwise, fc, direct conv
    bool direct = false;              // a dense conv run by conv_direct
    const float* x = nullptr;         // the input it reads
    const float* residual = nullptr;  // add: the other summand
    float* y = nullptr;               // its output
    // A depthwise layer and the 1x1 layer after it that alone reads its output run as one
    // depthwise_pointwise job (ops.h): the first step holds the job, the second is skipped.
    bool fused_with_next = false;
    bool fused_into_previous = false;
  };

  PackedModel model;
  EngineMemory memory;
  std::unique_ptr<ThreadPool> pool;
  int threads = 1;
  std::vector<std::vector<float>> buffers;
  std::vector<Step> steps;
  float* input = nullptr;
  const float* output = nullptr;
  Workspace workspace;

  void prepare(size_t index, Step& step);
  void plan_fusion();
  void load_weights(Step& step);
  void check_memory(int64_t limit);
  void plan_buffers(bool allocate);
  void run_step(const Step& step, FusedPartSeconds* fused_seconds = nullptr);
};

// Pairs a depthwise layer with the next layer when that one is a 1x1 stride-1 convolution on
// the kernels' packed formats, reads the depthwise output, and is its only reader (so the output
// of the pair is all that later layers see).
void Engine::Impl::plan_fusion() {
  const size_t n = steps.size();
  std::vector<int> readers(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const Layer& layer = model.layers[i];
    const int input = input_value(layer, i);
    if (input >= 0) ++readers[static_cast<size_t>(input)];
    if (layer.kind == LayerKind::kAdd && layer.residual_from >= 0) {
      ++readers[static_cast<size_t>(layer.residual_from)];
    }
  }
  for (size_t i = 0; i + 1 < n; ++i) {
    const Layer& dw = model.layers[i];
    const Layer& next = model.layers[i + 1];
    const bool one_by_one = (next.kind == LayerKind::kConv || next.kind == LayerKind::kPointwise) &&
                            next.kernel_h == 1 && next.stride == 1 && next.padding == 0 &&
                            !steps[i + 1].direct;
    if (dw.kind == LayerKind::kDepthwise && one_by_one &&
        input_value(next, i + 1) == static_cast<int>(i) && readers[i] == 1) {
      steps[i].fused_with_next = true;
      steps[i + 1].fused_into_previous = true;
    }
  }
}

void Engine::Impl::prepare(size_t index, Step& step) {
  const Layer& layer = model.layers[index];
  step.layer = &layer;
  step.in = image_of(layer.input_shape);
  step.out = image_of(layer.output_shape);
  step.params = {layer.kernel_h, layer.stride, layer.padding};
  switch (layer.kind) {
    case LayerKind::kConv:
    case LayerKind::kPointwise: {
      if (layer.kernel_h != layer.kernel_w) {
        reject_layer(index, layer, "the engine runs square kernels only, got " +
                                       window_text(layer));
      }
      ImageShape out;
      try {
        out = conv_output_shape(step.in, layer.output_shape[0], step.params);
      } catch (const std::invalid_argument& e) {
        reject_layer(index, layer, e.what());
      }
      if (!(out == step.out)) {
        reject_layer(index, layer, "output shape does not follow from " + window_text(layer));
      }
      step.direct = runs_direct_in_engine(layer);
      break;
    }
    case LayerKind::kDepthwise:
      if (layer.kernel_h != 3 || layer.kernel_w != 3 || layer.padding != 1 ||
          (layer.stride != 1 && layer.stride != 2)) {
        reject_layer(index, layer,
                     "the engine runs depthwise 3x3 with padding 1 and stride 1 or 2 only, got " +
                         window_text(layer));
      }
      break;
    case LayerKind::kFc:
      break;
    case LayerKind::kPool:
      if (layer.pool == PoolKind::kAverage) {
        reject_layer(index, layer,
                     "average pooling other than global is not supported (accepted pools: max, "
                     "global_average)");
      }
      if (layer.pool == PoolKind::kMax) {
        if (layer.kernel_h != layer.kernel_w || 2 * layer.padding > layer.kernel_h) {
          reject_layer(index, layer,
                       "max pooling needs a square kernel with padding at most kernel / 2, got " +
                           window_text(layer));
        }
      }
      break;
    case LayerKind::kAdd:
      break;
  }
}

// Allocates the layer's weights in the form its operator reads (after check_memory).
void Engine::Impl::load_weights(Step& step) {
  const Layer& layer = *step.layer;
  switch (layer.kind) {
    case LayerKind::kConv:
    case LayerKind::kPointwise:
      if (step.direct) {
        step.matrix = layer.weights.matrix();
        step.bias = layer.weights.bias();
      } else {
        step.packed = packed_weights(layer.weights);
      }
      break;
    case LayerKind::kDepthwise:
    case LayerKind::kFc:
      step.matrix = layer.weights.matrix();
      step.bias = layer.weights.bias();
      break;
    default:
      break;
  }
}

namespace {

// Floats of weights a layer holds once loaded: dense panels (rows rounded up to the panel
// height) or the file's packed arrays for conv / pointwise; the unpacked matrix for depthwise
// and fc.
int64_t weight_floats(const Layer& layer) {
  if (!layer.has_weights()) return 0;
  const LayerWeights& w = layer.weights;
  const int64_t rows = w.rows(), cols = w.cols();
  if (layer.kind == LayerKind::kDepthwise || layer.kind == LayerKind::kFc ||
      runs_direct_in_engine(layer)) {
    return rows * cols + rows;
  }
  switch (w.storage) {
    case WeightStorage::kDense: {
      const int64_t padded = (rows + kernels::kDensePanelRows - 1) / kernels::kDensePanelRows * kernels::kDensePanelRows;
      return padded * cols + padded;
    }
    case WeightStorage::kAligned:
      return w.aligned.bytes() / 4;
    case WeightStorage::kUnaligned:
    case WeightStorage::kUnalignedNaive:
      return w.unaligned.bytes() / 4;
  }
  return 0;
}

// Scratch floats of one layer: im2col's Cin*k*k x OH*OW, a strided 1x1's subsampled input, or
// the depthwise kernel's zero-bordered (stride 2: de-interleaved) plane of each thread.
int64_t scratch_floats(const Layer& layer, int threads) {
  const auto& in = layer.input_shape;
  const auto& out = layer.output_shape;
  switch (layer.kind) {
    case LayerKind::kConv:
    case LayerKind::kPointwise:
      if (runs_direct_in_engine(layer)) {
        // conv_direct's prepared rows of each thread (layers.h).
        return threads * in[0] * (7 * layer.stride + layer.kernel_h) *
               (in[2] + 2 * layer.padding + 70);
      }
      if (layer.kernel_h == 1 && layer.padding == 0) {
        return layer.stride == 1 ? 0 : in[0] * out[1] * out[2];
      }
      return in[0] * layer.kernel_h * layer.kernel_w * out[1] * out[2];
    case LayerKind::kDepthwise:
      return threads * (in[1] + 3) * (in[2] + 36);  // covers both strides and 16-lane slack
    default:
      return 0;
  }
}

std::string mib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

}  // namespace

// Adds up what the model would take before anything is allocated. Shapes were validated, so
// every product fits in int64 (each feature map and matrix has at most 2^31 elements).
void Engine::Impl::check_memory(int64_t limit) {
  int64_t largest_scratch = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Layer& layer = *steps[i].layer;
    const int64_t weights = 4 * weight_floats(layer);
    const int64_t scratch = 4 * scratch_floats(layer, threads);
    const int64_t maps = 4 * (steps[i].in.size() + steps[i].out.size());
    if (weights + scratch + maps > limit) {
      reject_layer(i, layer, "needs " + mib(weights + scratch + maps) + " (input and output feature maps " +
                                 mib(maps) + ", weights " + mib(weights) + ", scratch " + mib(scratch) +
                                 "), more than the engine's memory limit of " + mib(limit));
    }
    memory.weights += weights;
    largest_scratch = std::max(largest_scratch, scratch);
  }
  memory.scratch = largest_scratch;
  plan_buffers(/*allocate=*/false);
  if (memory.total() > limit) {
    throw std::invalid_argument("engine: packed model '" + model.name + "' needs " + mib(memory.total()) +
                                " (feature maps " + mib(memory.activations) + ", weights " + mib(memory.weights) +
                                ", scratch " + mib(memory.scratch) + "), more than the engine's memory limit of " +
                                mib(limit));
  }
}

int64_t default_engine_memory_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  const int64_t cap = int64_t{2} << 30;
  if (pages <= 0 || page_size <= 0) return cap;
  return std::min(cap, static_cast<int64_t>(pages) * page_size / 4);
}

void Engine::Impl::plan_buffers(bool allocate) {
  const size_t n = model.layers.size();
  // last_read[v + 1]: the last layer reading value v. A value nobody reads dies where it is
  // made; the model's output must outlive every layer.
  std::vector<size_t> last_read(n + 1, 0);
  for (size_t i = 0; i < n; ++i) last_read[i + 1] = i;
  auto read = [&](int value, size_t by) {
    size_t& last = last_read[static_cast<size_t>(value + 1)];
    last = std::max(last, by);
  };
  for (size_t i = 0; i < n; ++i) {
    const Layer& layer = model.layers[i];
    read(input_value(layer, i), i);
    if (layer.kind == LayerKind::kAdd) read(layer.residual_from, i);
    // A fused pair's 1x1 half writes while other bands still read the depthwise input: the
    // input must not share a buffer with the pair's output.
    if (steps[i].fused_with_next) read(input_value(layer, i), i + 1);
  }
  last_read[n] = n;  // value n - 1, the output

  BufferPlanner planner;
  std::vector<int> buffer_of(n + 1, -1);
  buffer_of[0] = planner.acquire(image_of(model.input_shape).size());
  for (size_t i = 0; i < n; ++i) {
    buffer_of[i + 1] = planner.acquire(steps[i].out.size());
    for (size_t v = 0; v <= i + 1; ++v) {
      if (last_read[v] == i && buffer_of[v] >= 0) planner.release(buffer_of[v]);
    }
  }

  if (!allocate) {
    memory.activations = 0;
    for (int64_t floats : planner.capacities()) memory.activations += 4 * floats;
    return;
  }
  buffers.reserve(planner.capacities().size());
  for (int64_t floats : planner.capacities()) {
    buffers.emplace_back(static_cast<size_t>(floats));
  }
  auto data_of = [&](int value) {
    return buffers[static_cast<size_t>(buffer_of[static_cast<size_t>(value + 1)])].data();
  };
  input = data_of(-1);
  for (size_t i = 0; i < n; ++i) {
    Step& step = steps[i];
    step.x = data_of(input_value(*step.layer, i));
    if (step.layer->kind == LayerKind::kAdd) step.residual = data_of(step.layer->residual_from);
    step.y = data_of(static_cast<int>(i));
  }
  output = steps.back().y;
}

void Engine::Impl::run_step(const Step& step, FusedPartSeconds* fused_seconds) {
  const Layer& layer = *step.layer;
  ThreadPool* p = pool.get();
  if (step.fused_with_next) {
    const Step& next = *(&step + 1);
    depthwise_pointwise(step.matrix.data(), step.bias.data(), step.in, step.x, layer.stride,
                        layer.activation, step.y, next.packed, next.y, next.layer->activation, p,
                        fused_seconds);
    return;
  }
  switch (layer.kind) {
    case LayerKind::kConv:
    case LayerKind::kPointwise:
      if (step.direct) {
        conv_direct(step.matrix.data(), step.bias.data(), step.out.channels, step.in, step.x,
                    step.params, step.y, layer.activation, p);
      } else {
        conv2d(step.packed, step.in, step.x, step.params, step.y, layer.activation, p, workspace);
      }
      break;
    case LayerKind::kDepthwise:
      depthwise_conv3x3(step.matrix.data(), step.bias.data(), step.in, step.x, layer.stride,
                        step.y, layer.activation, p);
      break;
    case LayerKind::kFc:
      fully_connected(step.matrix.data(), step.bias.data(), step.out.channels, step.in.size(),
                      step.x, step.y, layer.activation, p);
      break;
    case LayerKind::kAdd:
      residual_add(step.x, step.residual, step.out.size(), step.y, layer.activation);
      break;
    case LayerKind::kPool:
      if (layer.pool == PoolKind::kMax) {
        max_pool(step.in, step.x, step.params, step.y, p);
      } else {
        global_average_pool(step.in, step.x, step.y, p);
      }
      // The pooling operators have no fused activation.
      apply_activation(step.y, step.out.size(), layer.activation);
      break;
  }
}

Engine::Engine(const PackedModel& model, int threads, const EngineOptions& options)
    : impl_(std::make_unique<Impl>()) {
  if (threads < 1) {
    throw std::invalid_argument("engine: threads = " + std::to_string(threads) +
                                " must be >= 1");
  }
  try {
    validate_model(model, "packed model '" + model.name + "'");
  } catch (const ModelFileError& e) {
    throw std::invalid_argument(std::string("engine: ") + e.what());
  }
  if (model.layers.empty()) {
    throw std::invalid_argument("engine: packed model '" + model.name + "' has no layers");
  }
  Impl& m = *impl_;
  m.model = model;
  m.threads = threads;
  if (threads > 1) m.pool = std::make_unique<ThreadPool>(threads);
  m.steps.resize(m.model.layers.size());
  for (size_t i = 0; i < m.steps.size(); ++i) m.prepare(i, m.steps[i]);
  if (options.fuse_depthwise_pointwise) m.plan_fusion();
  m.check_memory(options.memory_limit_bytes);
  for (Impl::Step& step : m.steps) m.load_weights(step);
  m.plan_buffers(/*allocate=*/true);
}

Engine::~Engine() = default;

const PackedModel& Engine::model() const { return impl_->model; }
ImageShape Engine::input_shape() const { return image_of(impl_->model.input_shape); }
ImageShape Engine::output_shape() const { return impl_->steps.back().out; }
size_t Engine::num_layers() const { return impl_->steps.size(); }
int Engine::threads() const { return impl_->threads; }
const EngineMemory& Engine::memory() const { return impl_->memory; }

const float* Engine::run(const float* input, std::vector<double>* layer_seconds) {
  if (input == nullptr) throw std::invalid_argument("engine: run: input must not be null");
  Impl& m = *impl_;
  // A copy of our own: layers never write the caller's memory, whatever the buffer plan.
  std::copy(input, input + input_shape().size(), m.input);
  if (layer_seconds == nullptr) {
    for (const auto& step : m.steps) {
      if (!step.fused_into_previous) m.run_step(step);
    }
    return m.output;
  }
  layer_seconds->resize(m.steps.size());
  using Clock = std::chrono::steady_clock;
  for (size_t i = 0; i < m.steps.size(); ++i) {
    if (m.steps[i].fused_into_previous) continue;  // timed with the step before
    FusedPartSeconds parts;
    const Clock::time_point start = Clock::now();
    m.run_step(m.steps[i], &parts);
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    if (m.steps[i].fused_with_next) {
      // One job ran both layers: its wall time is shared out as the tasks' time in each part.
      const double busy = parts.depthwise + parts.pointwise;
      const double depthwise = busy > 0 ? wall * parts.depthwise / busy : wall / 2;
      (*layer_seconds)[i] = depthwise;
      (*layer_seconds)[i + 1] = wall - depthwise;
    } else {
      (*layer_seconds)[i] = wall;
    }
  }
  return m.output;
}

std::vector<float> Engine::run(const std::vector<float>& input) {
  const int64_t expected = input_shape().size();
  if (static_cast<int64_t>(input.size()) != expected) {
    throw std::invalid_argument("engine: run: the input holds " + std::to_string(input.size()) +
                                " floats, the model '" + impl_->model.name + "' needs " +
                                std::to_string(expected));
  }
  const float* y = run(input.data());
  return std::vector<float>(y, y + output_shape().size());
}

PackedModel single_layer_model(const PackedModel& model, size_t index) {
  if (index >= model.layers.size()) {
    throw std::out_of_range("single_layer_model: layer index " + std::to_string(index) +
                            " is out of range (model '" + model.name + "' has " +
                            std::to_string(model.layers.size()) + " layers)");
  }
  PackedModel single;
  single.name = model.name + "/" + model.layers[index].name;
  single.input_shape = model.layers[index].input_shape;
  Layer layer = model.layers[index];
  layer.input_from = kPreviousLayer;
  // The residual has the input's shape, so the one model input stands in for both summands.
  if (layer.kind == LayerKind::kAdd) layer.residual_from = kModelInput;
  single.layers.push_back(std::move(layer));
  return single;
}

}  // namespace ubp::device
