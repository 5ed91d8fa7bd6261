// The dense baseline of a training run: trained once per data/model/train settings and cached
// by their hash in <cache dir>/dense-<key>.pt (with a .partial.pt checkpoint per epoch while it
// trains, and a .lock so that concurrent runs train it once). A killed trainer resumes from the
// partial checkpoint.
#pragma once

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "distributed/distributed.h"
#include "experiments/experiment.h"
#include "experiments/training/training_data.h"
#include "models/classifier.h"
#include "settings/training_settings.h"

namespace ubp::experiments {

// Loads the dense baseline into `model`, training it first when the cache does not hold it.
// Returns its metadata (per-epoch curves under "epochs", the final evaluation under "final").
// Data parallel (`dist` set): rank 0 alone reads and writes the cache and tells the others
// whether there is training to do; they then receive its weights. Their returned metadata is
// a placeholder (their results are not kept).
nlohmann::json obtain_dense_baseline(const settings::TrainingSettings& settings, TrainingData& data,
                                     models::Classifier& model, const RunContext& ctx, spdlog::logger& log,
                                     distributed::DistributedContext* dist);

}  // namespace ubp::experiments
