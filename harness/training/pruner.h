// Chooses block masks for a model's prunable layers: importance, per-layer budgets (uniform or
// global allocation), the selector, and the per-layer records the database keeps.
#pragma once

#include <ATen/ATen.h>

#include <regex>
#include <string>
#include <vector>

#include "models/model_utils.h"
#include "training/masking.h"
#include "ubp/algorithms/allocation.h"
#include "ubp/results/store.h"

namespace ubp::training {

struct PruneSpec {
  std::string method = "bed";  // a selector name; "none" prunes nothing
  algorithms::BlockShape block{4, 1};
  algorithms::Norm norm = algorithms::Norm::kL1;
  algorithms::AllocationMode allocation = algorithms::AllocationMode::kUniform;
  double min_sparsity = 0.0, max_sparsity = 1.0;
  algorithms::SelectorOptions selector_options;
};

// Which layers a run prunes (docs/method.md section 6: pointwise by default; first convolution and
// classifier excluded unless asked).
struct LayerFilter {
  std::string kinds = "pointwise";  // pointwise | conv | all
  std::string name_regex;           // empty: every layer of those kinds
  bool include_first_conv = false;
  bool include_classifier = false;
};

// The model's layers chosen by `filter`, in state_dict order. Throws std::invalid_argument for
// a bad regex or when nothing matches (naming the filter and the layers that exist).
std::vector<models::PrunableLayer> select_layers(torch::nn::Module& model, const LayerFilter& filter);

struct LayerMask {
  at::Tensor mask;               // the weight's shape, 0 or 1
  results::LayerRecord record;   // what the database keeps for the layer
};

// Masks for every layer at `sparsity`, chosen on `scores[i]` (the tensor whose importance is
// ranked: the layer's weight for GMP, W + U for ADMM's projection; same shape as the weight).
// sparsity 0 gives all-ones masks without running the selector.
std::vector<LayerMask> choose_masks(const std::vector<models::PrunableLayer>& layers,
                                    const std::vector<at::Tensor>& scores, const PruneSpec& spec,
                                    double sparsity);

// How much of `weight`'s importance (`norm`, as the selectors rank it) `mask` keeps.
struct KeptImportance {
  double retained = 0;
  double total = 0;
};
KeptImportance kept_importance(const at::Tensor& weight, const at::Tensor& mask, algorithms::Norm norm);

// Rows (output channels) and columns (input channels) of a layer's weight matrix whose mask keeps
// nothing. An empty output channel leaves its batch norm a constant input, normalised by a
// variance near zero; a selector that concentrates its blocks empties more of them.
struct EmptyChannels {
  int64_t rows = 0, empty_rows = 0;
  int64_t cols = 0, empty_cols = 0;
};
EmptyChannels empty_channels(const at::Tensor& mask);

// Replaces the masks in `masks` with `chosen` (one per layer, same order).
void install_masks(MaskSet& masks, const std::vector<models::PrunableLayer>& layers,
                   const std::vector<LayerMask>& chosen);

}  // namespace ubp::training
