// A packed model as one XNNPACK operator per layer, run a layer at a time so that each layer can
// be timed: the per-layer breakdown of the XNNPACK anchor in ubp-bench-engine. The subgraph
// runtime (xnnpack_engine.h) is what the benchmark times end to end; the snapshot Debian ships
// (2022-02) has no runtime profiling, so this rebuilds the same model from the operators the
// runtime would create, with the same weights, fused clamps and layouts:
//   kDense   NHWC operators: convolution (groups = channels for depthwise), fully connected,
//            add, max and global average pooling.
//   kSparse  the layouts XNNPACK's NCHW rewrite gives a MobileNetV1: the first 3x3 stride-2
//            convolution reads NHWC and writes NCHW (XNN_FLAG_INPUT_NHWC), depthwise 3x3 and
//            1x1 convolutions run in NCHW (the 1x1 as SpMM over the non-zero weights), the
//            global average pool turns NCW into NC, the classifier reads NC. A layer outside
//            that pattern throws XnnpackError (the rewrite would not convert such a model).
// Each layer writes its own buffer and reads its producer's, as in the runtime, so a layer's
// input is as warm in cache as it is there. Operators are set up once; run() is one
// xnn_run_operator per layer.
#pragma once

#include <memory>
#include <vector>

#include "ubp/device/model_file.h"
#include "xnnpack_engine.h"

namespace ubp::device {

class XnnpackLayers {
 public:
  // threads >= 1 (1: no pthreadpool). Throws XnnpackError for a layer it cannot express.
  XnnpackLayers(const PackedModel& model, XnnpackMode mode, int threads);
  ~XnnpackLayers();
  XnnpackLayers(const XnnpackLayers&) = delete;
  XnnpackLayers& operator=(const XnnpackLayers&) = delete;

  // Copies a channel-major input (C x H x W floats) into the first layer's NHWC input.
  void set_input(const float* chw);
  // One forward pass, layer after layer; with layer_seconds, each layer's wall time (resized to
  // the number of layers).
  void run(std::vector<double>* layer_seconds = nullptr);
  // The last layer's output after run(), channel-major.
  std::vector<float> output() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ubp::device
