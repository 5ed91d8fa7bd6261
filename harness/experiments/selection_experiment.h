// `kind: selection`: run one block selector on a set of weight matrices and record, per
// matrix, the kept blocks, the achieved sparsity, the retained importance and the time.
#pragma once

#include "experiments/experiment.h"
#include "settings/selection_settings.h"

namespace ubp::experiments {

class SelectionExperiment : public Experiment {
 public:
  results::RunResult run(const nlohmann::json& resolved, const RunContext& context,
                         spdlog::logger& log) override;
  results::RunResult run(const settings::SelectionRunSettings& settings, const RunContext& context,
                         spdlog::logger& log);
};

// Deterministic per-matrix seed from the run's seed and the matrix name.
uint64_t derive_seed(uint64_t base, const std::string& salt);

}  // namespace ubp::experiments
