// What a gradual-pruning re-selection ranks, kept apart from what the forward pass uses.
//
// Pruned weights are exactly zero and get no gradient (masking.h). Ranked as they are, every
// later selection could keep only blocks inside the previous mask: for unaligned selectors the
// final mask would be a chain of nested greedy choices instead of the selector's answer at the
// final sparsity, while aligned tiles, being independent, would not suffer. ShadowWeights keeps
// for each pruned weight its last unpruned value (as TensorFlow's model-pruning GMP keeps the
// variable and masks only the forward pass), so each re-selection ranks every weight and a
// block dropped earlier can come back, with the value it had when it was dropped.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "models/model_utils.h"
#include "training/masking.h"
#include "training/pruner.h"

namespace ubp::training {

class ShadowWeights {
 public:
  // Starts as a copy of the layers' current (dense) weights.
  explicit ShadowWeights(const std::vector<models::PrunableLayer>& layers);
  // Restores saved shadows (a checkpoint), one per layer in the layers' order.
  ShadowWeights(const std::vector<models::PrunableLayer>& layers, std::vector<at::Tensor> saved);

  // Takes the current values of the weights `masks` keeps (pruned ones keep their shadow);
  // with no masks installed, every current value. Call it right before a re-selection.
  void absorb(const MaskSet& masks);

  // The tensors a re-selection ranks, one per layer (the layer's shape).
  const std::vector<at::Tensor>& ranked() const { return shadow_; }

  // Sets each weight to shadow * mask: weights the new masks keep again get their last
  // unpruned value back. Returns how many weights came back (pruned before, kept now).
  int64_t restore_into(const MaskSet& previous, const MaskSet& next);

 private:
  std::vector<models::PrunableLayer> layers_;
  std::vector<at::Tensor> shadow_;
};

struct MaskUpdate {
  std::vector<LayerMask> chosen;  // one per layer, with the records the database keeps
  int64_t revived_weights = 0;    // pruned before this update, kept by it
};

// One mask update of a pruning run: chooses masks at `sparsity` on the shadows (or, without
// `shadow`, on the weights as they are), installs them into `masks`, masks the weights and,
// with `sgd`, its momentum buffers; with `shadow`, weights kept again get their last
// unpruned value back.
MaskUpdate update_masks(const std::vector<models::PrunableLayer>& layers, const PruneSpec& spec, double sparsity,
                        MaskSet& masks, ShadowWeights* shadow, torch::optim::SGD* sgd);

}  // namespace ubp::training
