// An experiment kind: what one planned run does, given its resolved config.
//
// Kinds are listed in experiments/registry.cpp. A kind reads only its resolved config (every
// default already filled in) and returns everything the run records; the runner writes that
// to the store in one transaction, so a kind never touches the database.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "ubp/results/store.h"

namespace ubp::experiments {

class Experiment {
 public:
  virtual ~Experiment() = default;
  // Throws any std::exception on failure; the runner records its what() as the run's error.
  virtual results::RunResult run(const nlohmann::json& resolved, spdlog::logger& log) = 0;
};

std::vector<std::string> experiment_kinds();
// Throws std::invalid_argument naming the known kinds.
std::unique_ptr<Experiment> make_experiment(const std::string& kind);

}  // namespace ubp::experiments
