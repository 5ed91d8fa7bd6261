// A packed model (model_file.h) run by XNNPACK's subgraph API, as the measured anchor of the
// engine benchmark (harness/bench/engine_bench.cpp). Host only, and only where Debian's
// libxnnpack-dev is installed (device/CMakeLists.txt builds it then).
//
// The same weights as our engine: every layer's matrix is LayerWeights::matrix() (packed layers
// unpacked with zeros where no block is kept), transposed to XNNPACK's NHWC layouts. Two modes:
//   kDense   XNNPACK's default NHWC inference (GEMM 1x1 convolutions, NHWC depthwise).
//   kSparse  XNNPACK's NCHW inference: 1x1 convolutions as SpMM over the non-zero weights,
//            CHW depthwise kernels, the first 3x3 stride-2 convolution reading HWC and writing
//            CHW. XNNPACK applies it only when the runtime is created with
//            XNN_FLAG_HINT_SPARSE_INFERENCE AND xnn_initialize set the internal init flag
//            XNN_INIT_FLAG_CHW_OPT; the 2022 snapshot Debian ships sets that flag on x86 only
//            for CPUs without AVX, so on any recent x86 the hint alone is silently ignored. We
//            force it: xnn_subgraph_optimize(subgraph, 0) (fusions, consumer counts), then
//            xnn_subgraph_rewrite_for_nchw(subgraph) ourselves (both are exported by
//            libXNNPACK.so though only declared in XNNPACK's internal subgraph.h), then
//            xnn_create_runtime_v2 without the hint. The rewrite itself still decides: it
//            converts the model only when at least 2/3 of the 1x1 weights are zero and every
//            node of the cluster has an NCHW kernel (MobileNetV1 qualifies; ResNet does not).
// Both modes read the engine's channel-major input (transposed once per run, outside the timed
// call: see run()) and produce the engine's output layout for a classifier (C x 1 x 1).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ubp/device/model_file.h"

namespace ubp::device {

// XNNPACK refused the model or failed; what() names the call, the layer and XNNPACK's status.
class XnnpackError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class XnnpackMode { kDense, kSparse };
std::string to_string(XnnpackMode mode);  // "dense", "sparse"

class XnnpackModel {
 public:
  // threads >= 1 (1: no pthreadpool, XNNPACK runs on the caller's thread). Throws XnnpackError
  // for a layer XNNPACK cannot express (an average pool other than global) or a refused call.
  XnnpackModel(const PackedModel& model, XnnpackMode mode, int threads);
  ~XnnpackModel();
  XnnpackModel(const XnnpackModel&) = delete;
  XnnpackModel& operator=(const XnnpackModel&) = delete;

  // Copies a channel-major input (C x H x W floats) into the runtime's NHWC input buffer.
  void set_input(const float* chw);
  // One forward pass on the input set last (xnn_invoke_runtime): the timed call.
  void invoke();
  // The output after invoke(), channel-major (C x H x W of the model's output shape).
  std::vector<float> output() const;

  XnnpackMode mode() const { return mode_; }
  int threads() const { return threads_; }

 private:
  struct Impl;
  XnnpackMode mode_;
  int threads_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ubp::device
