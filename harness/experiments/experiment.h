// An experiment kind: what one planned run does, given its resolved config.
//
// A kind registers itself with UBP_REGISTER_EXPERIMENT in its own .cpp file, as selectors do
// (harness/CMakeLists.txt links those files into every binary that links their library). A kind
// reads its settings from the resolved config once (harness/settings/, every default already
// filled in) and returns everything the run records; the runner writes that to the store in one
// transaction, so a kind never touches the database.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "ubp/results/store.h"

namespace ubp::experiments {

// Where a run may keep files between attempts, and what it may show while it works.
struct RunContext {
  std::string run_id;
  // Per-run scratch space that survives a crash (checkpoints): <db dir>/work/<run id>. The
  // runner creates it; a kind may leave it behind, the runner removes it once the run is done.
  std::string work_dir;
  // Shared between runs and campaigns (dense baselines): <db dir>/cache unless configured.
  std::string cache_dir;
  // What a run keeps after it is done (the final model): <db dir>/models/<run id>, created by
  // the kind when it writes there. Empty: keep nothing (tests of a kind on its own).
  std::string models_dir;
  // Draw a progress bar on stderr (the console is a terminal and not quiet).
  bool progress_bar = false;
  // Where a long run reports its progress (one line per epoch); null: only the run's log.
  std::shared_ptr<spdlog::logger> console;
  // Throws results::LeaseLost when this runner no longer holds the run's lease (another runner
  // took the run over after this one's heartbeat went stale). Empty: no lease (a kind run on
  // its own). Checkpoints and kept models are written only by the lease owner: call
  // require_lease() right before writing them.
  std::function<void()> confirm_lease;
  void require_lease() const {
    if (confirm_lease) confirm_lease();
  }
};

class Experiment {
 public:
  virtual ~Experiment() = default;
  // Throws any std::exception on failure; the runner records its what() as the run's error.
  virtual results::RunResult run(const nlohmann::json& resolved, const RunContext& context,
                                 spdlog::logger& log) = 0;
};

using ExperimentFactory = std::function<std::unique_ptr<Experiment>()>;

// The registered kinds, sorted.
std::vector<std::string> experiment_kinds();
// Throws std::invalid_argument naming the known kinds.
std::unique_ptr<Experiment> make_experiment(const std::string& kind);
// Throws std::logic_error when `kind` is registered already.
void register_experiment(const std::string& kind, ExperimentFactory factory);

namespace detail {
struct ExperimentRegistration {
  ExperimentRegistration(const char* kind, ExperimentFactory factory) { register_experiment(kind, std::move(factory)); }
};
}  // namespace detail

#define UBP_REGISTER_EXPERIMENT(KIND, TYPE)                                             \
  static const ::ubp::experiments::detail::ExperimentRegistration ubp_experiment_reg_##TYPE{ \
      KIND, [] { return std::unique_ptr<::ubp::experiments::Experiment>(new TYPE()); }}

}  // namespace ubp::experiments
