#include "runner/runner.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "experiments/experiment.h"
#include "runner/logging.h"
#include "training/progress.h"

namespace ubp::runner {

namespace fs = std::filesystem;

std::string host_name() {
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

RunSummary execute_plan(const config::Plan& plan, results::Store& store, const RunHooks& hooks) {
  auto log = console();
  RunSummary summary;
  summary.planned = plan.runs.size();

  std::vector<const config::PlannedRun*> to_run;
  for (const auto& run : plan.runs) {
    const auto status = store.register_run(run.run_id, run.kind, run.resolved_json, params_of(run));
    if (status == results::RunStatus::kDone) {
      ++summary.already_done;
    } else {
      if (status == results::RunStatus::kRunning) {
        log->warn("run {} was left running by an interrupted ubp; running it again", run.run_id);
      }
      to_run.push_back(&run);
    }
  }
  log->info("{} run{} planned: {} already done, {} to run", summary.planned,
            summary.planned == 1 ? "" : "s", summary.already_done, to_run.size());
  if (hooks.owes_latency && hooks.owed_latency) {
    for (const auto& run : plan.runs) {
      if (store.find_run(run.run_id)->status != results::RunStatus::kDone) continue;
      if (!hooks.owes_latency(run, store.latency_of(run.run_id))) continue;
      experiments::RunContext context;
      context.run_id = run.run_id;
      context.models_dir = models_dir_for(store.path(), run.run_id);
      context.console = log;
      auto run_log = run_logger(run.run_id, log_file_for(store.path(), run.run_id));
      const auto rows = hooks.owed_latency(run, context, store.latency_of(run.run_id), *run_log);
      if (rows.empty()) continue;
      store.add_latency(run.run_id, rows);
      ++summary.latency_added;
      run_log->flush();
    }
  }
  if (to_run.empty()) return summary;

  const std::string host = host_name();
  fs::create_directories(fs::path(log_file_for(store.path(), "x")).parent_path());
  const auto sweep_start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < to_run.size(); ++i) {
    const config::PlannedRun& run = *to_run[i];
    const std::string log_path = log_file_for(store.path(), run.run_id);
    auto run_log = run_logger(run.run_id, log_path);
    run_log->debug("run {} on {}: {}", run.run_id, host, run.resolved_json);
    const auto start = std::chrono::steady_clock::now();
    store.mark_running(run.run_id, host);
    experiments::RunContext context;
    context.run_id = run.run_id;
    context.work_dir = work_dir_for(store.path(), run.run_id);
    context.cache_dir = cache_dir_for(plan, store.path());
    context.models_dir = models_dir_for(store.path(), run.run_id);
    context.progress_bar = progress_bar_wanted();
    context.console = log;
    std::string outcome;
    try {
      fs::create_directories(context.work_dir);
      results::RunResult result = experiments::make_experiment(run.kind)->run(run.resolved, context, *run_log);
      if (hooks.after_run) hooks.after_run(run, context, result, *run_log);
      store.finish_done(run.run_id, result);
      // The result is committed: checkpoints of the run are no longer needed.
      std::error_code ignored;
      fs::remove_all(context.work_dir, ignored);
      ++summary.succeeded;
      outcome = "done";
    } catch (const results::StoreError&) {
      throw;  // the database itself failed: stop rather than lose results
    } catch (const std::exception& e) {
      store.mark_failed(run.run_id, e.what());
      ++summary.failed;
      outcome = "FAILED";
      run_log->error("run {} failed: {}", run.run_id, e.what());
      log->error("run {} failed: {} (log: {})", run.run_id, e.what(), log_path);
    }
    const auto now = std::chrono::steady_clock::now();
    const double took = std::chrono::duration<double>(now - start).count();
    const double elapsed = std::chrono::duration<double>(now - sweep_start).count();
    const double left = elapsed / static_cast<double>(i + 1) * static_cast<double>(to_run.size() - i - 1);
    log->info("[{}/{}] {} {} {} in {} | elapsed {}, about {} left", i + 1, to_run.size(), run.run_id,
              run.label(), outcome, training::duration_text(took), training::duration_text(elapsed), training::duration_text(left));
    run_log->flush();
  }
  return summary;
}

}  // namespace ubp::runner
