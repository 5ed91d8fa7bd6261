#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>

#include "experiments/experiment.h"

namespace ubp::experiments {

namespace {

// Filled by the static registrations before main(); a function-local static, so a registration
// in another translation unit never meets it unconstructed.
struct Registry {
  std::mutex mutex;
  std::map<std::string, ExperimentFactory> factories;
};

Registry& registry() {
  static Registry instance;
  return instance;
}

}  // namespace

void register_experiment(const std::string& kind, ExperimentFactory factory) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.factories.emplace(kind, std::move(factory)).second) {
    throw std::logic_error("experiment kind '" + kind + "' is registered twice");
  }
}

std::vector<std::string> experiment_kinds() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> kinds;
  for (const auto& entry : r.factories) kinds.push_back(entry.first);
  return kinds;
}

std::unique_ptr<Experiment> make_experiment(const std::string& kind) {
  ExperimentFactory factory;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    const auto it = r.factories.find(kind);
    if (it != r.factories.end()) factory = it->second;
  }
  if (factory) return factory();
  std::string known;
  for (const auto& name : experiment_kinds()) known += (known.empty() ? "" : ", ") + name;
  throw std::invalid_argument("unknown experiment kind '" + kind + "'; known kinds: " + known +
                              (known.empty() ? "(none linked into this binary)" : ""));
}

}  // namespace ubp::experiments
