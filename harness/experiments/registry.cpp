#include <stdexcept>

#include "experiments/experiment.h"
#include "experiments/selection_experiment.h"
#include "experiments/training_experiment.h"

namespace ubp::experiments {

std::vector<std::string> experiment_kinds() { return {"selection", "training"}; }

std::unique_ptr<Experiment> make_experiment(const std::string& kind) {
  if (kind == "selection") return std::make_unique<SelectionExperiment>();
  if (kind == "training") return std::make_unique<TrainingExperiment>();
  std::string known;
  for (const auto& name : experiment_kinds()) known += (known.empty() ? "" : ", ") + name;
  throw std::invalid_argument("unknown experiment kind '" + kind + "'; known kinds: " + known);
}

}  // namespace ubp::experiments
