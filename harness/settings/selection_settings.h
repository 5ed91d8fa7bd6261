// The settings of a `kind: selection` run (a block selector on weight matrices), read once from
// its resolved config; its keys are declared beside the reader (add_selection_keys).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "settings/training_settings.h"

namespace ubp::settings {

// `selection`: which matrices a selection run prunes.
struct SelectionSettings {
  std::string source;  // random | model | run | file
  std::string run;     // source run: a done training run's id
  std::string file;    // source file: a kept model file
  int64_t rows = 0, cols = 0, matrices = 0;  // source random
  std::string dist;    // gaussian | uniform | laplace
  std::string model;   // source model: whose layer shapes
  bool compare_to_optimal = true;
  std::string layers;  // pointwise | conv | all
};

struct SelectionRunSettings {
  ExperimentSettings experiment;
  PruneSettings prune;
  SelectionSettings selection;
};

SelectionRunSettings read_selection_run_settings(const nlohmann::json& resolved);

void add_selection_keys(config::Schema& schema);

}  // namespace ubp::settings
