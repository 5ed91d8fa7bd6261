#include "runner/runner.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>

#include "experiments/experiment.h"
#include "runner/lease_keeper.h"
#include "runner/logging.h"
#include "training/progress.h"

namespace ubp::runner {

namespace fs = std::filesystem;

std::string host_name() {
  if (const char* simulated = std::getenv("UBP_HOSTNAME"); simulated != nullptr && *simulated != '\0') {
    return simulated;
  }
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return "unknown";
  return buffer;
}

std::string log_file_for(const std::string& db_path, const std::string& run_id) {
  const fs::path dir = fs::absolute(db_path).parent_path() / "logs";
  return (dir / (run_id + ".log")).string();
}

std::string work_dir_for(const std::string& db_path, const std::string& run_id) {
  return (fs::absolute(db_path).parent_path() / "work" / run_id).string();
}

std::string models_dir_for(const std::string& db_path, const std::string& run_id) {
  return (fs::absolute(db_path).parent_path() / "models" / run_id).string();
}

std::string cache_dir_for(const config::Plan& plan, const std::string& db_path) {
  const auto it = plan.campaign.find("output.cache");
  if (it != plan.campaign.end() && it->is_string() && !it->get<std::string>().empty()) {
    return fs::absolute(it->get<std::string>()).string();
  }
  return (fs::absolute(db_path).parent_path() / "cache").string();
}

std::vector<results::Param> params_of(const config::PlannedRun& run) {
  std::vector<results::Param> params;
  for (const auto& [key, value] : config::flatten(run.resolved)) {
    results::Param p{key, value.dump(), std::nullopt};
    if (value.is_number()) p.number = value.get<double>();
    params.push_back(std::move(p));
  }
  return params;
}

namespace {

// One runner's pass over a plan: the database, the hooks, its lease identity, the tally.
class PlanExecution {
 public:
  PlanExecution(const config::Plan& plan, results::Store& store, const RunHooks& hooks,
                const LeaseSettings& leases)
      : plan_(plan),
        store_(store),
        hooks_(hooks),
        timeout_(leases.timeout_seconds),
        owner_(results::lease_owner_for(leases.host.empty() ? host_name() : leases.host)),
        log_(console()) {}

  RunSummary run() {
    summary_.planned = plan_.runs.size();
    std::vector<const config::PlannedRun*> to_run = register_runs();
    log_->info("{} run{} planned: {} already done, {} to run", summary_.planned, summary_.planned == 1 ? "" : "s",
               summary_.already_done, to_run.size());
    measure_owed_latency();
    if (to_run.empty()) return summary_;
    fs::create_directories(fs::path(log_file_for(store_.path(), "x")).parent_path());
    work_through(to_run);
    return summary_;
  }

 private:
  // Registers every planned run and returns those not done, noting how often each was tried.
  std::vector<const config::PlannedRun*> register_runs() {
    std::vector<const config::PlannedRun*> to_run;
    for (const auto& run : plan_.runs) {
      const auto status = store_.register_run(run.run_id, run.kind, run.resolved_json, params_of(run));
      if (status == results::RunStatus::kDone) {
        ++summary_.already_done;
      } else {
        to_run.push_back(&run);
      }
    }
    for (const results::RunRow& row : store_.list_runs()) {
      attempts_seen_[row.run_id] = row.attempts;
      status_at_start_[row.run_id] = row.status;
    }
    return to_run;
  }

  // Done runs that owe latency rows (trained on a cluster node): each measured under the run's
  // lease, so that two runners never measure one run twice.
  void measure_owed_latency() {
    if (!hooks_.owes_latency || !hooks_.owed_latency) return;
    for (const auto& run : plan_.runs) {
      if (store_.find_run(run.run_id)->status != results::RunStatus::kDone) continue;
      if (!hooks_.owes_latency(run, store_.latency_of(run.run_id))) continue;
      if (const auto holder = store_.acquire_lease(run.run_id, owner_, timeout_)) {
        log_->info("run {}: its owed latency is being measured by {}", run.run_id, holder->holder());
        continue;
      }
      try {
        const auto existing = store_.latency_of(run.run_id);  // another runner may have just added rows
        if (!hooks_.owes_latency(run, existing)) {
          store_.release_lease(run.run_id, owner_.token);
          continue;
        }
        experiments::RunContext context;
        context.run_id = run.run_id;
        context.models_dir = models_dir_for(store_.path(), run.run_id);
        context.console = log_;
        auto run_log = run_logger(run.run_id, log_file_for(store_.path(), run.run_id));
        const auto rows = hooks_.owed_latency(run, context, existing, *run_log);
        run_log->flush();
        if (rows.empty()) {
          store_.release_lease(run.run_id, owner_.token);
          continue;
        }
        store_.add_latency(run.run_id, rows, owner_.token);
        ++summary_.latency_added;
      } catch (const results::LeaseLost& e) {
        log_->warn("{}", e.what());
      } catch (...) {
        store_.release_lease(run.run_id, owner_.token);
        throw;
      }
    }
  }

  // Claims and runs what it can, in plan order, until every run is done or failed; waits while
  // only runs held by other runners are left.
  void work_through(std::vector<const config::PlannedRun*> pending) {
    const size_t total = pending.size();
    size_t settled = 0;  // runs done or failed by anyone since the start
    std::string last_wait_note;
    const auto poll = std::chrono::duration<double>(std::clamp(timeout_ / 4, 0.02, 1.0));
    while (!pending.empty()) {
      bool claimed_any = false;
      std::vector<results::Lease> held;
      for (auto it = pending.begin(); it != pending.end();) {
        const config::PlannedRun& run = **it;
        const results::Claim claim = store_.claim_run(run.run_id, owner_, timeout_, attempts_seen_[run.run_id]);
        switch (claim.outcome) {
          case results::ClaimOutcome::kHeld:
            held.push_back(*claim.lease);
            ++it;
            continue;
          case results::ClaimOutcome::kDone:
            ++summary_.done_elsewhere;
            break;
          case results::ClaimOutcome::kFailedMeanwhile:
            ++summary_.failed_elsewhere;
            log_->warn("run {} failed under another runner in this sweep; not retrying it (`ubp report` shows its error)",
                       run.run_id);
            break;
          case results::ClaimOutcome::kClaimed:
            claimed_any = true;
            if (claim.lease) {
              ++summary_.taken_over;
              log_->warn("run {}: taking it over from {} (its heartbeat is {:.1f} s old{})", run.run_id,
                         claim.lease->holder(), claim.lease->age_seconds,
                         claim.lease->host == owner_.host && !results::process_exists(claim.lease->pid)
                             ? ", its process is gone"
                             : "");
            } else if (run_status_was_running(run.run_id)) {
              log_->warn("run {} was left running by an interrupted ubp; running it again", run.run_id);
            }
            execute(run, ++settled, total);
            it = pending.erase(it);
            continue;
        }
        ++settled;
        it = pending.erase(it);
      }
      if (pending.empty() || claimed_any) continue;
      std::string note = std::to_string(held.size()) + " run" + (held.size() == 1 ? "" : "s") +
                         " held by other runners:";
      for (const auto& lease : held) note += " " + lease.run_id + " (" + lease.holder() + ")";
      if (note != last_wait_note) log_->info("waiting for {}", note);
      last_wait_note = note;
      std::this_thread::sleep_for(poll);
    }
  }

  bool run_status_was_running(const std::string& run_id) const {
    const auto it = status_at_start_.find(run_id);
    return it != status_at_start_.end() && it->second == results::RunStatus::kRunning;
  }

  // Runs a claimed run under its lease and records the outcome.
  void execute(const config::PlannedRun& run, size_t position, size_t total) {
    const std::string log_path = log_file_for(store_.path(), run.run_id);
    auto run_log = run_logger(run.run_id, log_path);
    run_log->debug("run {} on {} (pid {}): {}", run.run_id, owner_.host, owner_.pid, run.resolved_json);
    const auto start = std::chrono::steady_clock::now();
    if (!started_) started_ = start;
    const auto beat = std::chrono::milliseconds(std::max<int64_t>(20, std::llround(timeout_ * 1000 / 4)));
    LeaseKeeper keeper(store_.path(), run.run_id, owner_, beat, log_);
    experiments::RunContext context;
    context.run_id = run.run_id;
    context.work_dir = work_dir_for(store_.path(), run.run_id);
    context.cache_dir = cache_dir_for(plan_, store_.path());
    context.models_dir = models_dir_for(store_.path(), run.run_id);
    context.progress_bar = progress_bar_wanted();
    context.console = log_;
    context.confirm_lease = [&keeper] { keeper.confirm(); };
    std::string outcome;
    try {
      fs::create_directories(context.work_dir);
      results::RunResult result = experiments::make_experiment(run.kind)->run(run.resolved, context, *run_log);
      keeper.confirm();  // what after_run writes (exported models) is the lease owner's too
      if (hooks_.after_run) hooks_.after_run(run, context, result, *run_log);
      store_.finish_done(run.run_id, result, owner_.token);
      // The result is committed: checkpoints of the run are no longer needed.
      std::error_code ignored;
      fs::remove_all(context.work_dir, ignored);
      ++summary_.succeeded;
      outcome = "done";
    } catch (const results::LeaseLost& e) {
      outcome = lease_lost(run, e.what(), *run_log);
    } catch (const results::StoreError&) {
      throw;  // the database itself failed: stop rather than lose results
    } catch (const std::exception& e) {
      if (keeper.lost()) {
        outcome = lease_lost(run, e.what(), *run_log);
      } else {
        // Said before recording it: when the database cannot take the failure either (a full
        // disk), the run's own error is still on the console.
        run_log->error("run {} failed: {}", run.run_id, e.what());
        log_->error("run {} failed: {} (log: {})", run.run_id, e.what(), log_path);
        try {
          store_.mark_failed(run.run_id, e.what(), owner_.token);
          ++summary_.failed;
          outcome = "FAILED";
        } catch (const results::LeaseLost& lost) {
          outcome = lease_lost(run, lost.what(), *run_log);
        }
      }
    }
    const auto now = std::chrono::steady_clock::now();
    const double took = std::chrono::duration<double>(now - start).count();
    const double elapsed = std::chrono::duration<double>(now - *started_).count();
    const double left = elapsed / static_cast<double>(position) * static_cast<double>(total - position);
    log_->info("[{}/{}] {} {} {} in {} | elapsed {}, about {} left", position, total, run.run_id, run.label(), outcome,
               training::duration_text(took), training::duration_text(elapsed), training::duration_text(left));
    run_log->flush();
  }

  std::string lease_lost(const config::PlannedRun& run, const std::string& why, spdlog::logger& run_log) {
    ++summary_.lost;
    run_log.warn("run {}: lease lost: {}", run.run_id, why);
    log_->warn("run {} was taken over by another runner: {}", run.run_id, why);
    return "taken over by another runner";
  }

  const config::Plan& plan_;
  results::Store& store_;
  const RunHooks& hooks_;
  const double timeout_;
  const results::LeaseOwner owner_;
  std::shared_ptr<spdlog::logger> log_;
  RunSummary summary_;
  std::map<std::string, int> attempts_seen_;
  std::map<std::string, results::RunStatus> status_at_start_;
  std::optional<std::chrono::steady_clock::time_point> started_;
};

}  // namespace

RunSummary execute_plan(const config::Plan& plan, results::Store& store, const RunHooks& hooks,
                        const LeaseSettings& leases) {
  if (!(leases.timeout_seconds > 0)) {
    throw std::invalid_argument("the lease timeout must be a positive number of seconds, not " +
                                std::to_string(leases.timeout_seconds));
  }
  return PlanExecution(plan, store, hooks, leases).run();
}

}  // namespace ubp::runner
