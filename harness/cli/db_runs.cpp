// ubp db runs | ubp db show | ubp db rm: a database's runs, one run in full, removing runs.
#include "cli/db_runs.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "config/plan.h"
#include "runner/runner.h"
#include "ubp/reports/tables.h"
#include "ubp/results/store.h"

namespace ubp::cli {

namespace {

using nlohmann::json;

// The final metrics `ubp db runs` shows as columns when any listed run has them: a training
// run's accuracy and sparsity, a selection run's quality against the optimum.
const char* const kKeyMetrics[] = {"top1", "sparsity", "retained_vs_optimal"};

// Prints rows as columns padded to their widest cell, two spaces apart; the last column is not
// padded, so a long label does not push trailing spaces.
void print_columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

// Six significant digits: enough to tell runs apart, short enough for a terminal line.
std::string shown(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

std::string number_or_dash(const std::map<std::string, double>& metrics, const std::string& key) {
  const auto it = metrics.find(key);
  return it == metrics.end() ? "-" : shown(it->second);
}

std::string first_line(const std::string& text, size_t limit) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > limit) line = line.substr(0, limit - 3) + "...";
  return line;
}

// The identity parameters (those of the run id) whose values differ between `runs`: what tells
// the listed runs apart. Bookkeeping keys (names, output paths, thread counts) never do.
std::vector<std::string> distinguishing_keys(const std::vector<reports::RunData>& runs) {
  std::map<std::string, std::set<std::string>> values;
  for (const auto& run : runs) {
    for (const auto& [key, param] : run.params) values[key].insert(param.json_value);
  }
  std::vector<std::string> keys;
  for (const auto& [key, seen] : values) {
    const config::KeySpec* spec = config::ubp_schema().find(key);
    if (spec != nullptr && spec->affects_id && seen.size() > 1) keys.push_back(key);
  }
  return keys;
}

// experiment.name, then key=value for each distinguishing key the run has; "-" when nothing.
std::string label_of(const reports::RunData& run, const std::vector<std::string>& keys) {
  std::string label = run.param_text("experiment.name");
  for (const auto& key : keys) {
    if (run.has_param(key)) label += (label.empty() ? "" : " ") + key + "=" + run.param_text(key);
  }
  return label.empty() ? "-" : label;
}

}  // namespace

int list_runs(const DbRunsArgs& args) {
  const auto store = results::Store::open(args.db, results::OpenMode::kReadOnly);
  std::vector<reports::WhereClause> where;
  for (const auto& clause : args.where) where.push_back(reports::parse_where(clause));
  const std::vector<reports::RunData> all = reports::load_runs(store);
  std::vector<reports::RunData> runs;
  for (auto& run : all.empty() ? all : reports::filter_runs(all, where)) {
    const std::string status = results::to_string(run.row.status);
    if (args.statuses.empty() ||
        std::find(args.statuses.begin(), args.statuses.end(), status) != args.statuses.end()) {
      runs.push_back(run);
    }
  }
  const std::vector<std::string> keys = distinguishing_keys(runs);

  if (args.json) {
    json out = json::array();
    for (const auto& run : runs) {
      json metrics = json::object();
      for (const auto& [key, value] : run.metrics) metrics[key] = value;
      out.push_back({{"run_id", run.row.run_id},
                     {"kind", run.row.kind},
                     {"status", results::to_string(run.row.status)},
                     {"label", label_of(run, keys)},
                     {"created_at", run.row.created_at},
                     {"finished_at", run.row.finished_at},
                     {"error", run.row.error},
                     {"metrics", metrics}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }

  std::vector<std::string> metric_columns;
  for (const char* key : kKeyMetrics) {
    const bool any = std::any_of(runs.begin(), runs.end(),
                                 [&](const reports::RunData& run) { return run.metrics.count(key) > 0; });
    if (any) metric_columns.push_back(key);
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"run id", "kind", "status"};
  header.insert(header.end(), metric_columns.begin(), metric_columns.end());
  header.push_back("label");
  rows.push_back(header);
  for (const auto& run : runs) {
    std::vector<std::string> row{run.row.run_id, run.row.kind, results::to_string(run.row.status)};
    for (const auto& key : metric_columns) row.push_back(number_or_dash(run.metrics, key));
    std::string label = label_of(run, keys);
    if (!run.row.error.empty()) label += "  (error: " + first_line(run.row.error, 100) + ")";
    row.push_back(label);
    rows.push_back(row);
  }
  if (!runs.empty()) print_columns(rows);
  const bool filtered = !args.where.empty() || !args.statuses.empty();
  const std::string matching = filtered ? " of " + std::to_string(all.size()) + " match" : "";
  std::printf("%zu run%s%s (database %s)\n", runs.size(), runs.size() == 1 ? "" : "s", matching.c_str(),
              args.db.c_str());
  return 0;
}

int show_run(const DbShowArgs& args) {
  const auto store = results::Store::open(args.db, results::OpenMode::kReadOnly);
  const std::string run_id = store.resolve_run_id(args.run);
  const results::RunRow row = store.find_run(run_id).value();
  const auto metrics = store.metrics_of(run_id);
  const auto layers = store.layers_of(run_id);
  const auto latency = store.latency_of(run_id);
  // The stored config is the canonical JSON the run id was computed from; a damaged one is
  // shown as the text it is.
  const json config = json::parse(row.config_json, nullptr, /*allow_exceptions=*/false);

  if (args.json) {
    json out = {{"run_id", row.run_id},     {"kind", row.kind},
                {"status", results::to_string(row.status)},
                {"created_at", row.created_at}, {"started_at", row.started_at},
                {"finished_at", row.finished_at}, {"host", row.host},
                {"attempts", row.attempts},   {"error", row.error},
                {"config", config.is_discarded() ? json(row.config_json) : config},
                {"metrics", json::array()},   {"layers", json::array()},
                {"latency", json::array()}};
    for (const auto& m : metrics) out["metrics"].push_back({{"key", m.key}, {"step", m.step}, {"value", m.value}});
    for (const auto& l : layers) {
      out["layers"].push_back({{"layer", l.layer}, {"rows", l.rows}, {"cols", l.cols},
                               {"block", {l.block_rows, l.block_cols}}, {"method", l.method},
                               {"kept_blocks", l.kept_blocks}, {"sparsity", l.sparsity},
                               {"retained_importance", l.retained_importance},
                               {"total_importance", l.total_importance},
                               {"selection_seconds", l.selection_seconds}});
    }
    for (const auto& r : latency) {
      const json detail = json::parse(r.detail_json, nullptr, false);
      out["latency"].push_back({{"model", r.model}, {"device", r.device}, {"kernel", r.kernel},
                                {"threads", r.threads}, {"status", r.failed ? "failed" : "ok"},
                                {"error", r.error}, {"valid", r.valid}, {"p50_ms", r.p50_ms},
                                {"p90_ms", r.p90_ms}, {"p99_ms", r.p99_ms}, {"min_ms", r.min_ms},
                                {"mean_ms", r.mean_ms}, {"cv", r.cv}, {"samples", r.samples},
                                {"sessions", r.sessions},
                                {"detail", detail.is_discarded() ? json(r.detail_json) : detail}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }

  print_columns({{"run", row.run_id},
                 {"kind", row.kind},
                 {"status", std::string(results::to_string(row.status)) + " (attempts: " +
                                std::to_string(row.attempts) + (row.host.empty() ? "" : ", host " + row.host) + ")"},
                 {"created", row.created_at},
                 {"started", row.started_at.empty() ? "-" : row.started_at},
                 {"finished", row.finished_at.empty() ? "-" : row.finished_at}});
  if (!row.error.empty()) std::printf("error     %s\n", row.error.c_str());
  std::printf("\nresolved config:\n%s\n", config.is_discarded() ? row.config_json.c_str() : config.dump(2).c_str());

  // Final values (step 0) one per line; a per-step series (per epoch) as its first and last step.
  std::map<std::string, std::vector<results::Metric>> by_key;
  for (const auto& m : metrics) by_key[m.key].push_back(m);
  std::vector<std::vector<std::string>> finals, series;
  for (const auto& [key, values] : by_key) {
    if (values.size() == 1 && values.front().step == 0) {
      finals.push_back({"  " + key, shown(values.front().value)});
    } else {
      series.push_back({"  " + key, std::to_string(values.size()) + " steps",
                        "step " + std::to_string(values.front().step) + ": " +
                            shown(values.front().value),
                        "step " + std::to_string(values.back().step) + ": " +
                            shown(values.back().value)});
    }
  }
  std::printf("\nmetrics (%zu):\n", finals.size());
  print_columns(finals);
  if (!series.empty()) {
    std::printf("\nmetrics per step (%zu series, first and last step; --json has every value):\n", series.size());
    print_columns(series);
  }

  if (!layers.empty()) {
    std::printf("\nlayers (%zu):\n", layers.size());
    std::vector<std::vector<std::string>> rows{
        {"  layer", "shape", "block", "method", "kept blocks", "sparsity", "retained %", "selection s"}};
    for (const auto& l : layers) {
      const double retained =
          l.total_importance > 0 ? 100.0 * l.retained_importance / l.total_importance : 0.0;
      rows.push_back({"  " + l.layer, std::to_string(l.rows) + "x" + std::to_string(l.cols),
                      std::to_string(l.block_rows) + "x" + std::to_string(l.block_cols), l.method,
                      std::to_string(l.kept_blocks), shown(l.sparsity),
                      shown(retained), shown(l.selection_seconds)});
    }
    print_columns(rows);
  }
  if (!latency.empty()) {
    std::printf("\nlatency (%zu):\n", latency.size());
    std::vector<std::vector<std::string>> rows{
        {"  device", "kernel", "threads", "p50 ms", "p90 ms", "cv", "samples", "verdict", "model"}};
    for (const auto& r : latency) {
      const std::string verdict = r.failed ? "failed: " + first_line(r.error, 80) : r.valid ? "valid" : "invalid";
      rows.push_back({"  " + r.device, r.kernel, std::to_string(r.threads),
                      r.failed ? "-" : shown(r.p50_ms),
                      r.failed ? "-" : shown(r.p90_ms),
                      r.failed ? "-" : shown(r.cv), std::to_string(r.samples), verdict,
                      r.model});
    }
    print_columns(rows);
  }
  return 0;
}

int remove_runs(const DbRmArgs& args) {
  if (args.failed == !args.runs.empty()) {
    std::fprintf(stderr, "error: ubp db rm: give run ids or --failed (one of them)\n");
    return 2;
  }
  auto store = results::Store::open(args.db, results::OpenMode::kReadWrite);
  results::RemovedRuns removed;
  if (args.failed) {
    removed = store.remove_runs_with_status(results::RunStatus::kFailed);
  } else {
    std::vector<std::string> ids;
    for (const auto& run : args.runs) ids.push_back(store.resolve_run_id(run));
    removed = store.remove_runs(ids, args.force);
  }
  if (removed.run_ids.empty()) {
    std::printf("no failed runs in %s; nothing removed\n", args.db.c_str());
    return 0;
  }
  std::string ids;
  for (const auto& id : removed.run_ids) ids += (ids.empty() ? "" : ", ") + id;
  std::printf("removed %zu run%s from %s: %s (%lld params, %lld metrics, %lld layers, %lld latency rows)\n",
              removed.run_ids.size(), removed.run_ids.size() == 1 ? "" : "s", args.db.c_str(), ids.c_str(),
              static_cast<long long>(removed.params), static_cast<long long>(removed.metrics),
              static_cast<long long>(removed.layers), static_cast<long long>(removed.latency));
  // Files beside the database are left alone: a model may have been copied or exported from
  // there, and a checkpoint lets a removed run that is run again resume.
  for (const auto& id : removed.run_ids) {
    for (const std::string& folder : {runner::work_dir_for(args.db, id), runner::models_dir_for(args.db, id)}) {
      std::error_code ignored;
      if (std::filesystem::exists(folder, ignored)) std::printf("kept: %s\n", folder.c_str());
    }
  }
  return 0;
}

}  // namespace ubp::cli
