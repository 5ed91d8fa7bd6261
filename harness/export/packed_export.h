// Export of a LibTorch classifier (MobileNetV1, ResNet-18, ResNet-50 from models/) to a
// packed-model file (device/include/ubp/device/model_file.h) for the device engine.
//
// The models are walked in execution order, not registration order: the layers of a residual
// block are emitted as conv1, conv2[, conv3], [downsample (reads the block input through
// Layer::input_from)], add (with residual_from). Every batch norm is folded into the
// convolution before it with its running statistics and its own eps, so the file describes the
// model in eval mode whatever mode the module is in. Every activation of these models is ReLU.
//
// Masks (training/masking.h: 0/1 tensors of the weight's shape) are keyed by module name
// ("features.3.pw", "layer1.0.conv2", "layer2.0.downsample.0"). A masked convolution is stored
// in the chosen kernel's format, its block list recovered from the mask
// (block_decomposition.h); a masked depthwise or fully connected layer stays dense with its
// pruned weights zero, since the engine runs those as dense loops.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <map>
#include <memory>
#include <string>

#include "models/classifier.h"
#include "models/model_utils.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/device/model_file.h"

namespace ubp::exporter {

// kUnalignedNaive: the unaligned format run by the naive unaligned kernel instead of WROS
// (device storage unaligned-naive), to measure what WROS is worth.
enum class ExportKernel { kDense, kAligned, kUnaligned, kUnalignedNaive };
// "dense", "aligned", "unaligned", "unaligned-naive"
std::string to_string(ExportKernel kernel);
// Throws std::invalid_argument naming the value and the accepted names.
ExportKernel export_kernel_from_string(const std::string& name);

struct ExportOptions {
  ExportKernel kernel = ExportKernel::kDense;
  algorithms::BlockShape block{4, 1};    // the grid the masks were chosen on
  std::array<int64_t, 3> input_shape{};  // C, H, W
  std::string name;
};

// Batch norm folded; every layer with a mask is stored in `kernel`'s format (dense: masked
// weights), the rest dense. Throws std::invalid_argument naming the layer when a mask does not
// fit the kernel (e.g. an unaligned mask exported as aligned), when a mask names no weight
// layer of the model or has another shape than the weight, and for a model that is not one of
// ours.
device::PackedModel export_model(models::Classifier& model,
                                 const std::map<std::string, at::Tensor>& masks,
                                 const ExportOptions& options);

// Masks for a model that was never trained (benchmarks, `ubp export --arch`): chosen on its
// current weights the way a training run chooses them (training::select_layers with
// prune.layers = `layers`, then training::choose_masks with uniform allocation and L1 norm).
struct MaskChoice {
  std::string method = "bed";  // a selector name, or "none" for no masks
  algorithms::BlockShape block{4, 1};
  double sparsity = 0.8;
  std::string layers = "pointwise";  // pointwise | conv | all
};
std::map<std::string, at::Tensor> choose_masks_for_export(models::Classifier& model,
                                                          const MaskChoice& choice);

// What an export kept: counts of layers per storage, and the fraction of the masked layers'
// weights their masks keep (1 when nothing is masked).
struct ExportSummary {
  int64_t layers = 0, dense = 0, aligned = 0, unaligned = 0, unaligned_naive = 0;
  int64_t masked_layers = 0;
  double kept_fraction = 1.0;
};
ExportSummary summarize_export(const device::PackedModel& packed,
                               const std::map<std::string, at::Tensor>& masks);

}  // namespace ubp::exporter
