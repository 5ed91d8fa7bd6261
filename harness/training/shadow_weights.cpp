#include "training/shadow_weights.h"

#include <stdexcept>

#include <torch/autograd.h>

namespace ubp::training {

ShadowWeights::ShadowWeights(const std::vector<models::PrunableLayer>& layers) : layers_(layers) {
  for (const auto& l : layers_) shadow_.push_back(l.weight.detach().clone());
}

ShadowWeights::ShadowWeights(const std::vector<models::PrunableLayer>& layers, std::vector<at::Tensor> saved)
    : layers_(layers), shadow_(std::move(saved)) {
  if (shadow_.size() != layers_.size()) throw std::invalid_argument("ShadowWeights: one saved tensor per layer");
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (!shadow_[i].sizes().equals(layers_[i].weight.sizes())) {
      throw std::invalid_argument("ShadowWeights: the saved tensor of " + layers_[i].name +
                                  " does not have the weight's shape");
    }
  }
}

void ShadowWeights::absorb(const MaskSet& masks) {
  torch::NoGradGuard no_grad;
  if (masks.size() == 0) {
    for (size_t i = 0; i < layers_.size(); ++i) shadow_[i].copy_(layers_[i].weight.detach());
    return;
  }
  if (masks.size() != layers_.size()) throw std::invalid_argument("ShadowWeights: one mask per layer");
  for (size_t i = 0; i < layers_.size(); ++i) {
    const at::Tensor kept = masks.entries()[i].mask != 0;
    shadow_[i] = at::where(kept, layers_[i].weight.detach(), shadow_[i]);
  }
}

int64_t ShadowWeights::restore_into(const MaskSet& previous, const MaskSet& next) {
  torch::NoGradGuard no_grad;
  if (next.size() != layers_.size()) throw std::invalid_argument("ShadowWeights: one mask per layer");
  int64_t revived = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const at::Tensor& mask = next.entries()[i].mask;
    layers_[i].weight.detach().copy_(shadow_[i] * mask);
    if (previous.size() == layers_.size()) {
      revived += ((previous.entries()[i].mask == 0) & (mask != 0)).sum().item<int64_t>();
    }
  }
  return revived;
}

MaskUpdate update_masks(const std::vector<models::PrunableLayer>& layers, const PruneSpec& spec, double sparsity,
                        MaskSet& masks, ShadowWeights* shadow, torch::optim::SGD* sgd) {
  MaskUpdate out;
  std::vector<at::Tensor> ranked;
  if (shadow != nullptr) {
    shadow->absorb(masks);
    ranked = shadow->ranked();
  } else {
    for (const auto& l : layers) ranked.push_back(l.weight.detach());
  }
  out.chosen = choose_masks(layers, ranked, spec, sparsity);
  const MaskSet previous = masks;
  install_masks(masks, layers, out.chosen);
  masks.apply_to_weights();
  if (sgd != nullptr) masks.apply_to_momentum(*sgd);
  if (shadow != nullptr) out.revived_weights = shadow->restore_into(previous, masks);
  return out;
}

}  // namespace ubp::training
