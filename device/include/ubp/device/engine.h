// The device inference engine: runs a whole packed model (model_file.h), one image at a time,
// channel-major, on the operators of ops.h.
//
// Construction does every one-time step (dense weights into the dense kernel's panels, output
// buffers planned by liveness so an activation buffer is reused once nothing reads it any more),
// so run() allocates nothing after its first call and per-iteration timings measure inference
// only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ubp/device/model_file.h"
#include "ubp/device/ops.h"

namespace ubp::device {

// The most memory an engine may take for a model's buffers, weights in the kernels' formats and
// scratch: min(2 GiB, a quarter of this machine's physical memory). A model file of a few hundred
// bytes can declare feature maps of billions of elements; the engine adds up what each layer
// would need before allocating anything and refuses what passes the limit.
int64_t default_engine_memory_limit();

struct EngineOptions {
  int64_t memory_limit_bytes = default_engine_memory_limit();
  // Runs each depthwise layer and the 1x1 convolution that alone reads its output as one job
  // split by bands of rows (ops.h, depthwise_pointwise): the same output bits, and a thread
  // multiplies the pixels it has just computed. Off by default: on the 2-vCPU development VM it
  // was 7-31% slower than separate layers at 2 threads and no faster at 1 (device/README.md,
  // "Fusing depthwise and 1x1 layers"); an option so other devices can measure it.
  bool fuse_depthwise_pointwise = false;
};

// What the engine would allocate for a model (before it does), in bytes.
struct EngineMemory {
  int64_t activations = 0;  // the planned feature-map buffers, shared between layers
  int64_t weights = 0;      // weights as the kernels read them (dense panels, unpacked matrices)
  int64_t scratch = 0;      // the largest im2col / subsampling workspace and depthwise planes
  int64_t total() const { return activations + weights + scratch; }
};

class Engine {
 public:
  // threads >= 1 (1: everything on the calling thread). Throws std::invalid_argument naming the
  // layer for a model the engine cannot run (validate_model's checks plus unsupported
  // operators, e.g. a non-global average pool), and for a model that needs more memory than
  // options.memory_limit_bytes (naming the layer that needs the most, and what for).
  Engine(const PackedModel& model, int threads, const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const PackedModel& model() const;
  ImageShape input_shape() const;
  ImageShape output_shape() const;
  size_t num_layers() const;
  int threads() const;
  const EngineMemory& memory() const;

  // One forward pass. `input` holds input_shape().size() floats. Returns the output
  // (output_shape().size() floats), valid until the next call. When `layer_seconds` is given it
  // is resized to num_layers() and receives each layer's wall time in seconds (a fused depthwise
  // + 1x1 pair's wall time is shared out in proportion to the time its tasks spent in each).
  const float* run(const float* input, std::vector<double>* layer_seconds = nullptr);
  std::vector<float> run(const std::vector<float>& input);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A model made of layer `index` of `model` alone, reading a model input of that layer's input
// shape (an add layer adds that input to itself). For timing one layer (ubp-devbench --layer).
// Throws std::out_of_range for a bad index.
PackedModel single_layer_model(const PackedModel& model, size_t index);

}  // namespace ubp::device
