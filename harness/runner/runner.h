// Executes a plan against a results database: the run lifecycle and the sweep's progress.
//
// A run already `done` is skipped. Any other run (new, pending, left `running` by a crash, or
// `failed` before) is executed: marked running, run, then its whole result is committed in one
// transaction with status `done`; an exception marks it `failed` with the error text and the
// sweep goes on.
#pragma once

#include <string>

#include "config/plan.h"
#include "ubp/results/store.h"

namespace ubp::runner {

struct RunSummary {
  size_t planned = 0;
  size_t already_done = 0;
  size_t succeeded = 0;
  size_t failed = 0;
};

// Registers every planned run (pending) and executes those not done yet.
RunSummary execute_plan(const config::Plan& plan, results::Store& store);

// The params rows of a planned run (its resolved config, flattened).
std::vector<results::Param> params_of(const config::PlannedRun& run);

std::string log_file_for(const std::string& db_path, const std::string& run_id);

std::string host_name();

}  // namespace ubp::runner
