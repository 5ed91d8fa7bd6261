// ubp db info DB | ubp db merge A.db B.db ... --into C.db | ubp db runs DB | ubp db show DB RUN_ID
// | ubp db rm DB RUN_ID... (the last three in db_runs.cpp)
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/db_runs.h"
#include "ubp/reports/tables.h"
#include "runner/runner.h"
#include "training/progress.h"
#include "ubp/results/store.h"

namespace ubp::cli {

namespace {

struct DbArgs {
  std::string info_db;
  bool info_json = false;
  double lease_timeout = results::kDefaultLeaseTimeoutSeconds;
  std::vector<std::string> merge_sources;
  std::string merge_into;
};

// "alive", or why a lease protects its run no more (seen from this machine).
std::string lease_verdict(const results::Lease& lease, const std::string& host, double timeout) {
  if (results::lease_is_alive(lease, host, timeout)) return "alive";
  if (lease.age_seconds > timeout) return "stale: heartbeat older than " + training::duration_text(timeout);
  return "dead: process gone";
}

int info(const DbArgs& args) {
  const auto store = results::Store::open(args.info_db, results::OpenMode::kReadOnly);
  const results::StoreInfo i = store.info();
  const int64_t total = i.runs_pending + i.runs_running + i.runs_done + i.runs_failed;
  const std::string host = runner::host_name();
  size_t alive = 0;
  for (const auto& lease : i.leases) alive += results::lease_is_alive(lease, host, args.lease_timeout) ? 1 : 0;
  if (args.info_json) {
    nlohmann::json out = {
        {"path", i.path},
        {"schema_version", i.schema_version},
        {"runs", {{"total", total}, {"pending", i.runs_pending}, {"running", i.runs_running},
                  {"done", i.runs_done}, {"failed", i.runs_failed}}},
        {"runs_by_kind", nlohmann::json::object()},
        {"rows", {{"params", i.param_rows}, {"metrics", i.metric_rows}, {"layers", i.layer_rows},
                  {"latency", i.latency_rows}}},
        {"first_created_at", i.first_created_at},
        {"last_finished_at", i.last_finished_at},
        {"file_bytes", i.file_bytes},
        {"leases", nlohmann::json::array()}};
    for (const auto& [kind, count] : i.runs_by_kind) out["runs_by_kind"][kind] = count;
    for (const auto& lease : i.leases) {
      out["leases"].push_back({{"run_id", lease.run_id}, {"host", lease.host}, {"pid", lease.pid},
                               {"heartbeat_at", lease.heartbeat_at}, {"heartbeat_age_seconds", lease.age_seconds},
                               {"alive", results::lease_is_alive(lease, host, args.lease_timeout)},
                               {"verdict", lease_verdict(lease, host, args.lease_timeout)}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("database   %s (schema v%d, %.1f KiB)\n", i.path.c_str(), i.schema_version,
              static_cast<double>(i.file_bytes) / 1024.0);
  std::printf("runs       %lld: %lld done, %lld failed, %lld running, %lld pending\n",
              static_cast<long long>(total), static_cast<long long>(i.runs_done),
              static_cast<long long>(i.runs_failed), static_cast<long long>(i.runs_running),
              static_cast<long long>(i.runs_pending));
  for (const auto& [kind, count] : i.runs_by_kind) {
    std::printf("  kind     %s: %lld\n", kind.c_str(), static_cast<long long>(count));
  }
  std::printf("rows       %lld params, %lld metrics, %lld layers, %lld latency\n",
              static_cast<long long>(i.param_rows), static_cast<long long>(i.metric_rows),
              static_cast<long long>(i.layer_rows), static_cast<long long>(i.latency_rows));
  if (!i.leases.empty()) {
    std::printf("leases     %zu alive, %zu dead or stale (judged from %s, timeout %s)\n", alive,
                i.leases.size() - alive, host.c_str(), training::duration_text(args.lease_timeout).c_str());
    for (const auto& lease : i.leases) {
      // An unreadable heartbeat time reads as infinitely old.
      const std::string age = lease.age_seconds < 1e9 ? training::duration_text(lease.age_seconds) + " ago" : "unreadable";
      std::printf("  run      %s by %s, heartbeat %s (%s)\n", lease.run_id.c_str(), lease.holder().c_str(), age.c_str(),
                  lease_verdict(lease, host, args.lease_timeout).c_str());
    }
  }
  if (!i.first_created_at.empty()) {
    std::printf("first run  %s\nlast end   %s\n", i.first_created_at.c_str(),
                i.last_finished_at.empty() ? "-" : i.last_finished_at.c_str());
  }
  return 0;
}

int merge(const DbArgs& args) {
  // Check every source before writing anything, so a bad file leaves the destination as it was.
  for (const auto& source : args.merge_sources) {
    results::Store::open(source, results::OpenMode::kReadOnly);
  }
  auto into = results::Store::open(args.merge_into, results::OpenMode::kReadWrite);
  int64_t changed = 0;
  for (const auto& source : args.merge_sources) {
    const int64_t n = into.merge_from(source);
    std::printf("%s: %lld run%s copied or updated\n", source.c_str(), static_cast<long long>(n),
                n == 1 ? "" : "s");
    changed += n;
  }
  const auto i = into.info();
  std::printf("%s now holds %lld runs (%lld done); %lld changed by this merge\n", args.merge_into.c_str(),
              static_cast<long long>(i.runs_pending + i.runs_running + i.runs_done + i.runs_failed),
              static_cast<long long>(i.runs_done), static_cast<long long>(changed));
  return 0;
}

}  // namespace

Command add_db_command(CLI::App& app) {
  auto args = std::make_shared<DbArgs>();
  CLI::App* db = app.add_subcommand("db", "Inspect, clean up and combine results databases");
  db->require_subcommand(1);
  CLI::App* info_cmd = db->add_subcommand(
      "info", "Summarise a database: runs by status and kind, row counts, the leases of runners working on it");
  info_cmd->add_option("db", args->info_db, "Database file")->required();
  info_cmd->add_flag("--json", args->info_json, "Print the summary as JSON");
  info_cmd->add_option("--lease-timeout", args->lease_timeout,
                       "Seconds after which a lease whose heartbeat stopped counts as stale (as `ubp run "
                       "--lease-timeout`; default 120)")
      ->check(CLI::PositiveNumber);
  CLI::App* merge_cmd = db->add_subcommand(
      "merge",
      "Merge databases from separate machines or shards into one, without duplicating runs: a run\n"
      "missing from the destination is copied, one present is replaced only by a more advanced copy\n"
      "(done > failed > running > pending).");
  merge_cmd->add_option("sources", args->merge_sources, "Databases to merge from")->required();
  merge_cmd->add_option("--into", args->merge_into, "Destination database (created if missing)")->required();

  auto runs_args = std::make_shared<DbRunsArgs>();
  CLI::App* runs_cmd = db->add_subcommand(
      "runs",
      "List the runs: id, kind, status, key final metrics (top1, sparsity, retained_vs_optimal) and a\n"
      "label (experiment.name and the run-id parameters that differ between the listed runs); a failed\n"
      "run shows its error.");
  runs_cmd->add_option("db", runs_args->db, "Database file")->required();
  runs_cmd->add_option("--where", runs_args->where,
                       "Only runs whose parameter KEY equals VALUE, as in `ubp report --where` (repeatable)")
      ->type_name("KEY=VALUE");
  runs_cmd->add_option("--status", runs_args->statuses, "Only runs with this status (repeatable)")
      ->check(CLI::IsMember({"pending", "running", "done", "failed"}));
  runs_cmd->add_flag("--json", runs_args->json, "Print the runs as a JSON array (every final metric)");

  auto show_args = std::make_shared<DbShowArgs>();
  CLI::App* show_cmd = db->add_subcommand(
      "show", "Show one run: its status, resolved config, metrics, pruned layers and latency measurements");
  show_cmd->add_option("db", show_args->db, "Database file")->required();
  show_cmd->add_option("run", show_args->run, "Run id, or its first digits when they name one run")->required();
  show_cmd->add_flag("--json", show_args->json, "Print everything as JSON (every metric step, raw latency detail)");

  auto rm_args = std::make_shared<DbRmArgs>();
  CLI::App* rm_cmd = db->add_subcommand(
      "rm",
      "Remove runs and all their rows (params, metrics, layers, latency) in one transaction; files\n"
      "beside the database (models/, work/, logs/) are kept. A removed run runs again with `ubp run`.");
  rm_cmd->add_option("db", rm_args->db, "Database file")->required();
  rm_cmd->add_option("runs", rm_args->runs, "Run ids, or their first digits when they name one run each");
  rm_cmd->add_flag("--failed", rm_args->failed, "Remove every failed run");
  rm_cmd->add_flag("--force", rm_args->force,
                   "Also remove runs marked running (only when no `ubp run` is working on them)");

  return {db, [args, info_cmd, merge_cmd, runs_cmd, runs_args, show_cmd, show_args, rm_cmd, rm_args] {
            try {
              if (info_cmd->parsed()) return info(*args);
              if (merge_cmd->parsed()) return merge(*args);
              if (runs_cmd->parsed()) return list_runs(*runs_args);
              if (show_cmd->parsed()) return show_run(*show_args);
              if (rm_cmd->parsed()) return remove_runs(*rm_args);
            } catch (const results::StoreError& e) {
              return fail(e.what(), 2);
            } catch (const reports::ReportError& e) {  // a bad --where
              return fail(e.what(), 2);
            }
            return 2;
          }};
}

}  // namespace ubp::cli
