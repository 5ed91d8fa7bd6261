// Executes a plan against a results database: the run lifecycle and the sweep's progress.
//
// A run already `done` is skipped. Any other run (new, pending, left `running` by a crash, or
// `failed` before) is claimed under a lease (results/lease.h), run, then its whole result is
// committed in one transaction with status `done`; an exception marks it `failed` with the
// error text and the sweep goes on. Several runners may work on one database at once (on this
// machine or on others sharing its file system): each skips runs another holds a live lease
// on, takes over runs whose runner died, leaves a run that failed under another runner in this
// sweep alone, and once nothing is left to claim waits until the runs held by others end.
#pragma once

#include <functional>
#include <string>

#include <spdlog/logger.h>

#include "config/plan.h"
#include "experiments/experiment.h"
#include "ubp/results/store.h"

namespace ubp::runner {

struct RunSummary {
  size_t planned = 0;
  size_t already_done = 0;
  size_t succeeded = 0;
  size_t failed = 0;
  size_t latency_added = 0;  // done runs whose owed latency was measured now (RunHooks)
  size_t done_elsewhere = 0;    // finished by other runners while this one worked
  size_t failed_elsewhere = 0;  // failed under other runners while this one worked
  size_t taken_over = 0;        // claimed from a runner that had died (it held a dead lease)
  size_t lost = 0;              // taken over by another runner while this one ran them
};

// How this runner holds leases.
struct LeaseSettings {
  // A heartbeat older than this gives the run up to other runners; the heartbeat is renewed
  // every quarter of it.
  double timeout_seconds = results::kDefaultLeaseTimeoutSeconds;
  std::string host;  // empty: host_name()
};

// Steps the caller adds to every run. after_run sees the experiment's result before it is
// committed and may add to it (the latency of the run's model: latency/run_latency.h); an
// exception from it fails the run like one from the experiment.
struct RunHooks {
  std::function<void(const config::PlannedRun&, const experiments::RunContext&, results::RunResult&,
                     spdlog::logger&)>
      after_run;
  // For a run already done: whether it still owes latency rows (its config names devices it has
  // no rows for, because it trained as a cluster task; `existing` is what it has), and the
  // measurement of those rows, which are added to the done run in one transaction.
  std::function<bool(const config::PlannedRun&, const std::vector<results::LatencyRecord>& existing)>
      owes_latency;
  std::function<std::vector<results::LatencyRecord>(const config::PlannedRun&, const experiments::RunContext&,
                                                    const std::vector<results::LatencyRecord>& existing,
                                                    spdlog::logger&)>
      owed_latency;
};

// Registers every planned run (pending) and executes those not done yet, until each is done or
// failed (by this runner or another).
RunSummary execute_plan(const config::Plan& plan, results::Store& store, const RunHooks& hooks = {},
                        const LeaseSettings& leases = {});

// The params rows of a planned run (its resolved config, flattened).
std::vector<results::Param> params_of(const config::PlannedRun& run);

std::string log_file_for(const std::string& db_path, const std::string& run_id);
// <db dir>/work/<run id>: a run's checkpoints, kept across attempts until it is done.
std::string work_dir_for(const std::string& db_path, const std::string& run_id);
// <db dir>/models/<run id>: what a done run keeps (its final model, `ubp export --run`).
std::string models_dir_for(const std::string& db_path, const std::string& run_id);
// output.cache if set, else <db dir>/cache: files shared between runs (dense baselines).
std::string cache_dir_for(const config::Plan& plan, const std::string& db_path);

// This machine's name as leases and runs record it: UBP_HOSTNAME when set (tests simulate
// several machines with it), else gethostname().
std::string host_name();

}  // namespace ubp::runner
