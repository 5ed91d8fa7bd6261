// ubp run CONFIG [key=value ...] [--db PATH] [--dry-run] [--report DIR] [--task N]
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "config/plan.h"
#include "latency/run_latency.h"
#include "runner/logging.h"
#include "runner/runner.h"
#include "cli/report_folder.h"
#include "settings/latency_settings.h"

namespace ubp::cli {

namespace {

struct RunArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string db;
  std::string report;
  bool dry_run = false;
  int nproc = 1;  // --nproc: local data-parallel workers (train.distributed)
  int64_t task = -1;  // --task: only this planned run (a Slurm array task); -1: all
  double lease_timeout = results::kDefaultLeaseTimeoutSeconds;  // --lease-timeout, seconds
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

// Where the report goes: --report; else none under --task (array tasks each hold one shard, and a
// report per task would only race on a shared folder) or when the config sets no output.report;
// else output.report, or with --db a folder beside that database, so that two databases never
// overwrite one report.
std::string report_dir_of(const RunArgs& args, const config::Plan& plan) {
  if (!args.report.empty()) return args.report;
  const std::string configured = plan.campaign.at("output.report").get<std::string>();
  if (args.task >= 0 || configured.empty()) return "";
  return args.db.empty() ? configured : report_dir_beside(args.db);
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

// --nproc N: N copies of this `ubp run` on this machine, ranks 0..N-1 of one data-parallel
// group meeting through a file store in a fresh temporary folder. Rank 0 is the real run (the
// database, the report, the terminal). The others write into a copy of the database taken
// before they start: they see the same runs done and so take part in the same runs in the same
// order, and whatever they record is thrown away with the folder. They skip latency.
int run_local_workers(const RunArgs& args) {
  config::Plan plan;
  try {
    plan = config::make_plan(args.config, args.overrides);
  } catch (const config::ConfigError& e) {
    return print_config_errors(e);
  }
  namespace fs = std::filesystem;
  const std::string db = args.db.empty() ? plan.campaign.at("output.db").get<std::string>() : args.db;
  char pattern[] = "/tmp/ubp-nproc-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return fail("cannot create a temporary folder in /tmp for --nproc", 1);
  const fs::path scratch = pattern;
  char self[4096];
  const ssize_t self_length = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (self_length <= 0) return fail("cannot find this program's path (/proc/self/exe) to start workers", 1);
  const std::string program(self, static_cast<size_t>(self_length));
  ::setenv("UBP_LOCAL_PROCESSES", std::to_string(args.nproc).c_str(), 1);  // the cores are shared

  std::vector<pid_t> workers;
  for (int rank = 0; rank < args.nproc; ++rank) {
    std::vector<std::string> argv{program, "run", args.config};
    argv.insert(argv.end(), args.overrides.begin(), args.overrides.end());
    for (const std::string& o : {"world_size=" + std::to_string(args.nproc), "rank=" + std::to_string(rank),
                                 "rendezvous=file:" + (scratch / "store").string(), std::string("interface=lo")}) {
      argv.push_back("train.distributed." + o);
    }
    if (args.task >= 0) argv.insert(argv.end(), {"--task", std::to_string(args.task)});
    argv.insert(argv.end(), {"--lease-timeout", std::to_string(args.lease_timeout)});
    std::string log;
    if (rank == 0) {
      argv.insert(argv.end(), {"--db", db});
      // Rank 0 is given --db, so it must be told the report folder this command would use.
      const std::string report = report_dir_of(args, plan);
      if (!report.empty()) argv.insert(argv.end(), {"--report", report});
    } else {
      const fs::path copy_dir = scratch / ("rank" + std::to_string(rank));
      fs::create_directories(copy_dir);
      for (const char* suffix : {"", "-wal", "-shm"}) {
        std::error_code missing;  // a database not created yet, or without a write-ahead log
        fs::copy_file(db + suffix, copy_dir / (std::string("ubp.db") + suffix), missing);
      }
      argv.insert(argv.end(), {"--db", (copy_dir / "ubp.db").string(), "latency.devices=", "output.report="});
      log = (scratch / ("rank" + std::to_string(rank) + ".log")).string();
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return fail("cannot start worker " + std::to_string(rank) + " for --nproc", 1);
    if (pid == 0) {
      // A worker outlives a killed parent otherwise, and rank 0 would go on writing the database
      // that the next `ubp run` resumes from.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(128 + SIGTERM);  // the parent died before prctl
      if (!log.empty()) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
          ::dup2(fd, 1);
          ::dup2(fd, 2);
        }
      }
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(program.c_str(), cargv.data());
      ::_exit(127);
    }
    workers.push_back(pid);
  }
  // A worker that fails leaves the others waiting in a collective until the timeout: stop them.
  int worst = 0;
  size_t running = workers.size();
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::wait(&status);
    if (pid < 0) break;
    --running;
    std::replace(workers.begin(), workers.end(), pid, pid_t{0});  // reaped: never signal it again
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0 && worst == 0) {
      std::cerr << "error: a --nproc worker exited with status " << code << "; stopping the others (logs of ranks "
                << "1.." << args.nproc - 1 << " in " << scratch.string() << ")\n";
      for (pid_t other : workers) {
        if (other > 0) ::kill(other, SIGTERM);
      }
    }
    worst = std::max(worst, code);
  }
  if (worst == 0) {
    std::error_code ignored;
    fs::remove_all(scratch, ignored);
  }
  return worst;
}

int run(const RunArgs& args) {
  if (args.nproc > 1 && !args.dry_run) return run_local_workers(args);
  config::Plan plan;
  try {
    plan = config::make_plan(args.config, args.overrides);
  } catch (const config::ConfigError& e) {
    return print_config_errors(e);
  }
  for (const auto& warning : plan.warnings) runner::console()->warn("warning: {}", warning.format());
  const bool one_task = args.task >= 0;
  if (one_task) {
    if (static_cast<size_t>(args.task) >= plan.runs.size()) {
      return fail("--task " + std::to_string(args.task) + " is out of range: " + args.config + " plans " +
                      std::to_string(plan.runs.size()) + " run" + (plan.runs.size() == 1 ? "" : "s") +
                      " (accepted: 0 to " + std::to_string(static_cast<int64_t>(plan.runs.size()) - 1) + ")",
                  2);
    }
    // Keep the run's own index, so logs and manifests agree on which task this is.
    std::vector<config::PlannedRun> only{plan.runs[static_cast<size_t>(args.task)]};
    plan.runs = std::move(only);
  }
  const std::string db = args.db.empty() ? plan.campaign.at("output.db").get<std::string>() : args.db;
  const std::string report_dir = report_dir_of(args, plan);
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
    // A cluster node is not the device a latency figure is about, and its neighbours make any
    // timing noisy: under --task (a Slurm array task) the run trains and records, and its latency
    // is owed: a later `ubp run` of the same config on the device host, with the merged database
    // beside the shards' kept models, measures what done runs owe.
    if (!one_task) {
      hooks.after_run = latency::measure_run_latency;
      hooks.owes_latency = [](const config::PlannedRun& run, const std::vector<results::LatencyRecord>& existing) {
        return !latency::owed_devices(run, existing).empty();
      };
      hooks.owed_latency = latency::measure_owed_latency;
    } else if (latency::wants_latency(plan.runs.front())) {
      std::string devices;
      for (const std::string& device : settings::read_latency_settings(plan.runs.front().resolved).devices) {
        devices += (devices.empty() ? "" : ", ") + device;
      }
      runner::console()->info(
          "--task: latency on {} is not measured on a cluster node; it is owed: after merging the shards "
          "into a database in their folder, `ubp run` of this config on the device host measures it",
          devices);
    }
    runner::LeaseSettings leases;
    leases.timeout_seconds = args.lease_timeout;
    const runner::RunSummary summary = runner::execute_plan(plan, store, hooks, leases);
    std::printf("%zu run%s: %zu done now, %zu already done, %zu failed (database %s)\n", summary.planned,
                summary.planned == 1 ? "" : "s", summary.succeeded, summary.already_done, summary.failed,
                db.c_str());
    if (summary.done_elsewhere + summary.failed_elsewhere + summary.taken_over + summary.lost > 0) {
      std::printf("other runners: %zu done and %zu failed by them, %zu taken over from dead runners, %zu lost to "
                  "them\n",
                  summary.done_elsewhere, summary.failed_elsewhere, summary.taken_over, summary.lost);
    }
    if (summary.latency_added > 0) {
      std::printf("latency measured now for %zu done run%s that owed it\n", summary.latency_added,
                  summary.latency_added == 1 ? "" : "s");
    }
    if (!report_dir.empty()) {
      reports::ReportOptions options;
      options.out_dir = report_dir;
      const auto report = write_report_replacing(store, options);
      std::printf("report: %s\n", report.report_path.c_str());
    }
    return summary.failed + summary.failed_elsewhere > 0 ? 1 : 0;
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
      "on; the exit status is 1 if any run failed, 2 for a bad config or database. Several `ubp run`\n"
      "of one sweep may share a database: each claims different runs under a lease, takes over the\n"
      "runs of dead workers and waits for those others hold.");
  sub->add_option("config", args->config, "YAML config, e.g. configs/quickstart.yaml")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("overrides", args->overrides,
                  "Dotted overrides key=value, applied last, e.g. prune.sparsity=0.9 "
                  "prune.block=[4,1]; an override pins a swept key to one value");
  sub->add_option("--db", args->db, "Results database (default: the config's output.db)");
  sub->add_option("--report", args->report,
                  "Write a report of the database to this folder when done, replacing the folder (default: "
                  "output.report when set; with --db, <db dir>/<db name>-report beside that database)");
  sub->add_flag("-n,--dry-run", args->dry_run,
                "Print the planned runs and how many are already done; run nothing, write nothing");
  sub->add_option("--task", args->task,
                  "Run only planned run N (0-based, the index in `ubp plan`), as one Slurm array task does; "
                  "latency is not measured under --task")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--lease-timeout", args->lease_timeout,
                  "Seconds after which a run whose runner stopped renewing its lease (a crashed process on another "
                  "machine) is taken over; several `ubp run` may share one database (default 120)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--nproc", args->nproc,
                  "Train each run with N local data-parallel processes (train.distributed over Gloo on "
                  "loopback); rank 0 writes the results")
      ->check(CLI::Range(1, 256));
  return {sub, [args] { return run(*args); }};
}

}  // namespace ubp::cli
