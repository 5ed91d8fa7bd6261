// `kind: training` (docs/method.md section 6): a dense baseline (trained once per data/model/training
// config and cached by its hash), then pruning with the chosen selector under GMP or ADMM,
// fine-tuning, and evaluation. Records per-epoch curves, final accuracy and, per pruned layer,
// the kept blocks, sparsity, retained importance and selection time.
//
// Files: the dense baseline in <cache dir>/dense-<hash>.pt (with a .partial.pt checkpoint per
// epoch while it trains, and a .lock so that concurrent runs train it once); the pruned run's
// checkpoint per epoch in <work dir>/checkpoint.pt. A killed run resumes from both. A finished
// run keeps its final model and masks in <models dir>/model.pt (export/final_model.h).
//
// This header does not include LibTorch, so the registry can name the kind without it.
#pragma once

#include "experiments/experiment.h"

namespace ubp::experiments {

class TrainingExperiment : public Experiment {
 public:
  results::RunResult run(const nlohmann::json& resolved, const RunContext& context,
                         spdlog::logger& log) override;
};

// The hash that names a run's dense baseline: over the data, model and train sections, without
// the keys that do not change the trained weights (threads, loader settings).
std::string dense_baseline_key(const nlohmann::json& resolved);

}  // namespace ubp::experiments
