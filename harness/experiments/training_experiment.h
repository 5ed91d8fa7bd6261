// `kind: training` (docs/method.md section 6): a dense baseline (trained once per data/model/train
// config and cached by its hash), then pruning with the chosen selector under a one-shot, GMP or
// ADMM schedule, fine-tuning, and evaluation. Records per-epoch curves, final accuracy and, per
// pruned layer, the kept blocks, sparsity, retained importance and selection time.
//
// The parts live in experiments/training/: the datasets (training_data), the dense-baseline
// cache (dense_baseline), the prune state and its checkpoint (prune_state), the schedules
// (prune_schedules) and what a finished run keeps (run_outputs); run() wires them.
//
// Files: the dense baseline in <cache dir>/dense-<hash>.pt (with a .partial.pt checkpoint per
// epoch while it trains, and a .lock so that concurrent runs train it once); the pruned run's
// checkpoint per epoch in <work dir>/checkpoint.pt. A killed run resumes from both. A finished
// run keeps its final model and masks in <models dir>/model.pt (export/final_model.h).
#pragma once

#include "experiments/experiment.h"
#include "settings/training_settings.h"

namespace ubp::experiments {

class TrainingExperiment : public Experiment {
 public:
  results::RunResult run(const nlohmann::json& resolved, const RunContext& context,
                         spdlog::logger& log) override;
  results::RunResult run(const settings::TrainingSettings& settings, const RunContext& context,
                         spdlog::logger& log);
};

}  // namespace ubp::experiments
