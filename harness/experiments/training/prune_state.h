// The state of a pruning run besides the model and the optimizer (masks, their records, ADMM's
// Z and U, GMP's shadows, the epochs so far), and its checkpoint in <work dir>/checkpoint.pt,
// from which a killed run resumes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/model_utils.h"
#include "settings/training_settings.h"
#include "training/checkpoint.h"
#include "training/masking.h"
#include "training/pruner.h"
#include "training/shadow_weights.h"
#include "ubp/results/store.h"

namespace ubp::experiments {

struct PruneState {
  training::MaskSet masks;
  std::vector<results::LayerRecord> records;
  double target_sparsity = -1;   // of the installed masks (-1: none installed yet)
  double selection_seconds = 0;  // every selection of the run
  std::vector<at::Tensor> z, u;  // ADMM
  std::optional<training::ShadowWeights> shadow;  // GMP with prune.reselect: shadow
  int64_t revived_weights = 0;   // pruned by one selection, kept again by a later one
  nlohmann::json epochs = nlohmann::json::array();
};

training::PruneSpec prune_spec(const settings::PruneSettings& prune);
training::LayerFilter layer_filter(const settings::PruneSettings& prune);

// Chooses and installs the masks at `sparsity` (training/shadow_weights.h) and keeps their records.
void select_masks(PruneState& st, const std::vector<models::PrunableLayer>& layers, const training::PruneSpec& spec,
                  torch::optim::SGD& sgd, double sparsity);

// `resolved`: the run's config, recorded in the checkpoint as it is.
training::Checkpoint to_checkpoint(const PruneState& st, const std::vector<models::PrunableLayer>& layers,
                                   const std::string& run_id, const nlohmann::json& resolved);
void from_checkpoint(PruneState& st, const training::Checkpoint& c, const std::vector<models::PrunableLayer>& layers);

}  // namespace ubp::experiments
