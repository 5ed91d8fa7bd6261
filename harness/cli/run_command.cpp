// ubp run CONFIG [key=value ...] [--db PATH] [--dry-run] [--report DIR]
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "config/plan.h"
#include "latency/run_latency.h"
#include "runner/logging.h"
#include "runner/runner.h"
#include "ubp/reports/markdown_report.h"

namespace ubp::cli {

namespace {

struct RunArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string db;
  std::string report;
  bool dry_run = false;
};

int print_config_errors(const config::ConfigError& e) {
  std::fflush(stdout);
  const auto& issues = e.issues();
  if (issues.size() == 1) {  // one problem, one line
    std::cerr << "error: " << issues[0].format() << " (invalid config; nothing was run)\n";
    return 2;
  }
  std::cerr << "error: invalid config (" << issues.size() << " problem" << (issues.size() == 1 ? "" : "s")
            << "; nothing was run):\n";
  for (const auto& issue : issues) std::cerr << "  " << issue.format() << "\n";
  return 2;
}

int dry_run(const config::Plan& plan, const std::string& db) {
  std::optional<results::Store> store;
  if (std::filesystem::exists(db)) store = results::Store::open(db, results::OpenMode::kReadOnly);
  size_t done = 0;
  std::printf("%5s  %-16s  %-8s  %s\n", "#", "run id", "status", "sweep values");
  for (const auto& run : plan.runs) {
    std::string status = "new";
    if (store) {
      if (const auto row = store->find_run(run.run_id)) status = results::to_string(row->status);
    }
    if (status == "done") ++done;
    std::printf("%5zu  %-16s  %-8s  %s\n", run.index + 1, run.run_id.c_str(), status.c_str(),
                run.label().c_str());
  }
  std::printf("%zu planned run%s, %zu already done, %zu to run (database %s%s)\n", plan.runs.size(),
              plan.runs.size() == 1 ? "" : "s", done, plan.runs.size() - done, db.c_str(),
              store ? "" : ", not created yet");
  if (plan.duplicates_dropped > 0) {
    std::printf("%zu sweep point%s resolved to an experiment already planned and %s dropped\n",
                plan.duplicates_dropped, plan.duplicates_dropped == 1 ? "" : "s",
                plan.duplicates_dropped == 1 ? "was" : "were");
  }
  return 0;
}

int run(const RunArgs& args) {
  config::Plan plan;
  try {
    plan = config::make_plan(args.config, args.overrides);
  } catch (const config::ConfigError& e) {
    return print_config_errors(e);
  }
  const std::string db = args.db.empty() ? plan.campaign.at("output.db").get<std::string>() : args.db;
  const std::string report_dir =
      args.report.empty() ? plan.campaign.at("output.report").get<std::string>() : args.report;
  try {
    if (args.dry_run) return dry_run(plan, db);
    latency::check_plan_devices(plan);  // a typo in a device file stops us before any training
    // The default database lives under runs/, which a fresh clone lacks; make the folder the
    // user asked for. If that fails (a file in the way), Store::open explains the problem.
    const auto db_folder = std::filesystem::path(db).parent_path();
    std::error_code ignored;
    if (!db_folder.empty()) std::filesystem::create_directories(db_folder, ignored);
    auto store = results::Store::open(db, results::OpenMode::kReadWrite);
    runner::RunHooks hooks;
    hooks.after_run = latency::measure_run_latency;
    const runner::RunSummary summary = runner::execute_plan(plan, store, hooks);
    std::printf("%zu run%s: %zu done now, %zu already done, %zu failed (database %s)\n", summary.planned,
                summary.planned == 1 ? "" : "s", summary.succeeded, summary.already_done, summary.failed,
                db.c_str());
    if (!report_dir.empty()) {
      const auto report = reports::write_markdown_report(store, report_dir);
      std::printf("report: %s\n", report.report_path.c_str());
    }
    return summary.failed > 0 ? 1 : 0;
  } catch (const results::StoreError& e) {
    return fail(e.what(), 2);
  } catch (const device::DeviceConfigError& e) {
    return fail(e.what(), 2);
  }
}

}  // namespace

Command add_run_command(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* sub = app.add_subcommand(
      "run",
      "Run an experiment or a sweep from a YAML config. Runs already done in the database are\n"
      "skipped, runs left running by a crash are rerun, a failed run is recorded and the sweep goes\n"
      "on; the exit status is 1 if any run failed, 2 for a bad config or database.");
  sub->add_option("config", args->config, "YAML config, e.g. configs/quickstart.yaml")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("overrides", args->overrides,
                  "Dotted overrides key=value, applied last, e.g. prune.sparsity=0.9 "
                  "prune.block=[4,1]; an override pins a swept key to one value");
  sub->add_option("--db", args->db, "Results database (default: the config's output.db)");
  sub->add_option("--report", args->report,
                  "Write a report of the database to this folder when done (default: output.report)");
  sub->add_flag("-n,--dry-run", args->dry_run,
                "Print the planned runs and how many are already done; run nothing, write nothing");
  return {sub, [args] { return run(*args); }};
}

}  // namespace ubp::cli
