// What a finished training run leaves: its model and masks in <models dir>/model.pt
// (export/final_model.h), and the metrics that describe the pruned model.
#pragma once

#include <vector>

#include <spdlog/logger.h>

#include "experiments/experiment.h"
#include "experiments/training/prune_state.h"
#include "models/classifier.h"
#include "models/model_utils.h"
#include "settings/training_settings.h"
#include "ubp/results/store.h"

namespace ubp::experiments {

// Keeps the model (and its masks; null for an unpruned run) so that `ubp export --run` can
// pack it after the run's work dir is gone. Does nothing without a models dir.
void keep_final_model(const RunContext& ctx, const settings::TrainingSettings& settings,
                      const models::ModelSpec& spec, models::Classifier& model, const training::MaskSet* masks,
                      spdlog::logger& log);

// Per pruned layer, the importance its mask retains of the dense weights (`dense_weights`, one
// per layer); the run's share of empty channels, zero weights, selection time and revived
// weights as metrics.
void record_pruned_model(results::RunResult& out, const PruneState& st,
                         const std::vector<models::PrunableLayer>& layers,
                         const std::vector<at::Tensor>& dense_weights, algorithms::Norm norm);

}  // namespace ubp::experiments
