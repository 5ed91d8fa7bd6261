#include "ubp/reports/tables.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>

#include <nlohmann/json.hpp>

#include "ubp/reports/statistics.h"

namespace ubp::reports {

namespace {

bool parse_number(const std::string& text, double* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  *value = std::strtod(text.c_str(), &end);
  return *end == '\0';
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? "" : separator) + parts[i];
  return out;
}

std::string known_keys_text(const std::vector<RunData>& runs) {
  const auto keys = known_param_keys(runs);
  return join(std::vector<std::string>(keys.begin(), keys.end()), ", ");
}

std::string without_spaces(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
  return text;
}

bool clause_matches(const RunData& run, const WhereClause& clause) {
  const auto it = run.params.find(clause.key);
  if (it == run.params.end()) return false;
  const results::Param& param = it->second;
  double wanted = 0;
  if (param.number && parse_number(clause.value, &wanted)) return *param.number == wanted;
  return run.param_text(clause.key) == clause.value || without_spaces(param.json_value) == without_spaces(clause.value);
}

std::string block_text(int rows, int cols) { return std::to_string(rows) + "x" + std::to_string(cols); }

}  // namespace

bool value_less(const std::string& a, const std::string& b) {
  double x = 0, y = 0;
  if (parse_number(a, &x) && parse_number(b, &y)) return x < y;
  return a < b;
}

bool ValuesLess::operator()(const std::vector<std::string>& a, const std::vector<std::string>& b) const {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (value_less(a[i], b[i])) return true;
    if (value_less(b[i], a[i])) return false;
  }
  return a.size() < b.size();
}

bool is_bookkeeping_param(const std::string& key) {
  static const char* const kKeys[] = {"experiment.name", "train.threads", "data.loader_threads", "data.cache",
                                      "prune.memory_limit_mib"};
  static const char* const kSections[] = {"output.", "latency.", "slurm.", "train.distributed."};
  for (const char* name : kKeys) {
    if (key == name) return true;
  }
  for (const char* section : kSections) {
    if (key.rfind(section, 0) == 0) return true;
  }
  return false;
}

std::string settings_key(const RunData& run, const std::set<std::string>& ignored) {
  std::string key;
  for (const auto& [name, param] : run.params) {
    if (ignored.count(name) == 0 && !is_bookkeeping_param(name)) key += name + "=" + param.json_value + ";";
  }
  return key;
}

SiblingLayers::SiblingLayers(const std::vector<RunData>& runs, const std::string& method) {
  for (const auto& run : runs) {
    if (!run.done()) continue;
    for (const auto& layer : run.layers) {
      if (layer.method == method) layers_[{settings_key(run, {"prune.method"}), layer.layer}] = layer;
    }
  }
}

const results::LayerRecord* SiblingLayers::find(const RunData& run, const std::string& layer) const {
  const auto it = layers_.find({settings_key(run, {"prune.method"}), layer});
  return it == layers_.end() ? nullptr : &it->second;
}

std::string block_label(const std::string& block_param) {
  std::string label;
  for (char c : block_param) {
    if (c == ',') label += 'x';
    else if (c != '[' && c != ']' && c != ' ') label += c;
  }
  return label;
}

std::string RunData::param_text(const std::string& key) const {
  const auto it = params.find(key);
  if (it == params.end()) return "";
  const std::string& json = it->second.json_value;
  if (json.size() >= 2 && json.front() == '"' && json.back() == '"') return json.substr(1, json.size() - 2);
  return json;
}

std::vector<RunData> load_runs(const results::Store& store) {
  std::vector<RunData> runs;
  for (const auto& row : store.list_runs()) {
    RunData run;
    run.row = row;
    for (const auto& p : store.params_of(row.run_id)) run.params[p.key] = p;
    std::map<std::string, int64_t> last_step;
    for (const auto& m : store.metrics_of(row.run_id)) {
      const auto it = last_step.find(m.key);
      if (it == last_step.end() || m.step >= it->second) {
        last_step[m.key] = m.step;
        run.metrics[m.key] = m.value;
      }
    }
    run.layers = store.layers_of(row.run_id);
    run.latency = store.latency_of(row.run_id);
    runs.push_back(std::move(run));
  }
  return runs;
}

std::set<std::string> known_param_keys(const std::vector<RunData>& runs) {
  std::set<std::string> keys;
  for (const auto& run : runs) {
    for (const auto& [key, param] : run.params) keys.insert(key);
  }
  return keys;
}

WhereClause parse_where(const std::string& text) {
  const size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw ReportError("--where '" + text + "': expected KEY=VALUE, e.g. --where model.name=mobilenet_v1");
  }
  return WhereClause{text.substr(0, equals), text.substr(equals + 1)};
}

std::string describe(const std::vector<WhereClause>& where) {
  std::vector<std::string> parts;
  for (const auto& clause : where) parts.push_back(clause.key + "=" + clause.value);
  return join(parts, ", ");
}

std::vector<RunData> filter_runs(const std::vector<RunData>& runs, const std::vector<WhereClause>& where) {
  if (where.empty()) return runs;
  const auto known = known_param_keys(runs);
  std::map<std::string, std::vector<const WhereClause*>> by_key;
  for (const auto& clause : where) {
    if (known.count(clause.key) == 0) {
      throw ReportError("--where " + clause.key + "=" + clause.value + ": no run has the parameter '" + clause.key +
                        "' (known: " + known_keys_text(runs) + ")");
    }
    by_key[clause.key].push_back(&clause);
  }
  std::vector<RunData> kept;
  for (const auto& run : runs) {
    bool all = true;
    for (const auto& [key, clauses] : by_key) {
      bool any = false;
      for (const WhereClause* clause : clauses) any = any || clause_matches(run, *clause);
      all = all && any;
    }
    if (all) kept.push_back(run);
  }
  return kept;
}

// ---- accuracy ----

Table accuracy_table(const std::vector<RunData>& runs, const AccuracyOptions& options, bool user_axes) {
  const auto known = known_param_keys(runs);
  std::vector<std::string> axes;
  for (const auto& key : options.group_by) {
    if (known.count(key) != 0) {
      axes.push_back(key);
    } else if (user_axes) {
      throw ReportError("--group-by " + key + ": no run has this parameter (known: " + known_keys_text(runs) + ")");
    }
  }
  std::map<std::vector<std::string>, std::vector<const RunData*>, ValuesLess> groups;
  for (const auto& run : runs) {
    if (!run.done() || run.metrics.count(options.metric) == 0) continue;
    std::vector<std::string> key;
    for (const auto& axis : axes) key.push_back(run.param_text(axis));
    groups[key].push_back(&run);
  }

  Table table;
  table.name = "accuracy";
  table.title = "Accuracy";
  for (const auto& axis : axes) table.columns.push_back(axis_column(axis));
  // Accuracies are stored in percent: two decimals is what papers print. Other metrics (fractions,
  // seconds) keep format_number's choice.
  const bool percent = options.metric.find("top") != std::string::npos;
  table.columns.push_back(value_column(options.metric, percent ? 2 : -1));
  table.columns.push_back(value_column("runs"));
  table.columns.push_back(value_column("vs dense", percent ? 2 : -1));
  table.caption = "Final " + options.metric + " for each " + (axes.empty() ? "database" : join(axes, " x ")) +
                  ": mean " + "\u00b1" + " standard deviation over the runs that share these values, how many, and " +
                  "the difference from the dense model.";

  const std::string dense_key = "dense." + options.metric;
  const auto model_axis = std::find(axes.begin(), axes.end(), "model.name");
  std::set<std::string> varying_within;
  bool any_dense = false;
  for (const auto& [key, members] : groups) {
    std::vector<double> values, dense_values;
    for (const RunData* run : members) {
      values.push_back(run->metrics.at(options.metric));
      const auto dense = run->metrics.find(dense_key);
      if (dense != run->metrics.end()) dense_values.push_back(dense->second);
    }
    std::optional<double> dense_reference;
    if (dense_values.size() == members.size()) {
      dense_reference = mean_of(dense_values);
    } else {
      std::vector<double> unpruned;
      for (const auto& run : runs) {
        if (!run.done() || run.param_text("prune.method") != "none" || run.metrics.count(options.metric) == 0) continue;
        if (model_axis != axes.end() &&
            run.param_text("model.name") != key[static_cast<size_t>(model_axis - axes.begin())]) {
          continue;
        }
        unpruned.push_back(run.metrics.at(options.metric));
      }
      if (!unpruned.empty()) dense_reference = mean_of(unpruned);
    }
    std::vector<Cell> row;
    for (const auto& value : key) row.push_back(Cell::of_text(value));
    const double mean = mean_of(values);
    row.push_back(Cell::of_number(mean, stddev_of(values)));
    row.push_back(Cell::of_number(static_cast<double>(values.size())));
    row.push_back(dense_reference ? Cell::of_number(mean - *dense_reference) : Cell::empty());
    any_dense = any_dense || dense_reference.has_value();
    table.rows.push_back(std::move(row));

    for (const auto& [param_key, param] : members.front()->params) {
      for (const RunData* run : members) {
        const auto it = run->params.find(param_key);
        if (it == run->params.end() || it->second.json_value != param.json_value) varying_within.insert(param_key);
      }
    }
  }
  if (!any_dense) {
    table.columns.pop_back();
    for (auto& row : table.rows) row.pop_back();
  }
  if (!varying_within.empty()) {
    table.notes.push_back("Each row averages runs that differ in: " +
                          join(std::vector<std::string>(varying_within.begin(), varying_within.end()), ", ") + ".");
  }
  hoist_constant_columns(table);
  return table;
}

// ---- latency ----

namespace {

struct LatencyGroup {
  std::vector<double> p50, p90, speedups;
  int records = 0, invalid = 0, failed = 0;
};

const results::LatencyRecord* dense_record_of(const RunData& run, const results::LatencyRecord& like) {
  for (const auto& record : run.latency) {
    if (record.kernel == "dense" && !record.failed && record.device == like.device &&
        record.threads == like.threads && record.p50_ms > 0) {
      return &record;
    }
  }
  return nullptr;
}

}  // namespace

Table latency_table(const std::vector<RunData>& runs) {
  enum Axis { kModel, kBlock, kSparsity, kMethod, kKernel, kDevice, kThreads };
  std::map<std::vector<std::string>, LatencyGroup, ValuesLess> groups;
  // model, device, threads -> dense-kernel p50 of unpruned runs: the fallback dense reference.
  std::map<std::vector<std::string>, std::vector<double>> unpruned_dense;
  // model, sparsity, block, device, threads -> kernel -> p50s, for unaligned/aligned.
  std::map<std::vector<std::string>, std::map<std::string, std::vector<double>>> by_kernel;

  for (const auto& run : runs) {
    if (!run.done()) continue;
    for (const auto& record : run.latency) {
      const std::string model = run.param_text("model.name");
      const std::string threads = std::to_string(record.threads);
      const std::vector<std::string> key = {model, run.param_text("prune.block"), run.param_text("prune.sparsity"),
                                            run.param_text("prune.method"), record.kernel, record.device, threads};
      LatencyGroup& group = groups[key];
      ++group.records;
      if (record.failed) {
        ++group.failed;
        continue;
      }
      if (!record.valid) ++group.invalid;
      group.p50.push_back(record.p50_ms);
      group.p90.push_back(record.p90_ms);
      if (const auto* dense = dense_record_of(run, record); dense != nullptr && record.p50_ms > 0) {
        group.speedups.push_back(dense->p50_ms / record.p50_ms);
      }
      if (run.param_text("prune.method") == "none" && record.kernel == "dense") {
        unpruned_dense[{model, record.device, threads}].push_back(record.p50_ms);
      }
      by_kernel[{model, key[kSparsity], key[kBlock], record.device, threads}][record.kernel].push_back(record.p50_ms);
    }
  }

  Table table;
  table.name = "latency";
  table.title = "Latency";
  table.caption = "Median (p50) and 90th-percentile latency in milliseconds of each exported model, averaged over "
                  "runs; speed-up over the dense model, and on unaligned-kernel rows the ratio of its latency to "
                  "the aligned kernel's at the same sparsity and block shape.";
  for (const char* name : {"model.name", "prune.block", "prune.sparsity", "prune.method", "kernel", "device", "threads"}) {
    table.columns.push_back(axis_column(name));
  }
  table.columns.push_back(value_column("p50 ms", 3));
  table.columns.push_back(value_column("p90 ms", 3));
  table.columns.push_back(value_column("speed-up", 2));
  table.columns.push_back(value_column("unaligned/aligned", 3));
  table.columns.push_back(value_column("measured"));
  Column status = axis_column("status");
  status.axis = false;
  table.columns.push_back(status);

  bool any_invalid = false, any_failed = false;
  for (const auto& [key, group] : groups) {
    std::vector<Cell> row;
    for (const auto& value : key) row.push_back(Cell::of_text(value));
    const bool measured = !group.p50.empty();
    const double p50 = measured ? mean_of(group.p50) : 0.0;
    row.push_back(measured ? Cell::of_number(p50) : Cell::empty());
    row.push_back(measured ? Cell::of_number(mean_of(group.p90)) : Cell::empty());

    Cell speedup;
    if (!group.speedups.empty()) {
      speedup = Cell::of_number(mean_of(group.speedups));
    } else if (measured && p50 > 0) {
      const auto it = unpruned_dense.find({key[kModel], key[kDevice], key[kThreads]});
      if (it != unpruned_dense.end()) speedup = Cell::of_number(mean_of(it->second) / p50);
    }
    row.push_back(speedup);

    Cell ratio;
    if (key[kKernel] == "unaligned" && measured) {
      const auto& kernels = by_kernel[{key[kModel], key[kSparsity], key[kBlock], key[kDevice], key[kThreads]}];
      const auto aligned = kernels.find("aligned");
      const auto unaligned = kernels.find("unaligned");
      if (aligned != kernels.end() && unaligned != kernels.end() && mean_of(aligned->second) > 0) {
        ratio = Cell::of_number(mean_of(unaligned->second) / mean_of(aligned->second));
      }
    }
    row.push_back(ratio);
    row.push_back(Cell::of_number(static_cast<double>(group.p50.size())));

    std::string verdict = "ok";
    if (group.failed == group.records) {
      verdict = "failed";
    } else if (group.failed > 0 || group.invalid > 0) {
      std::vector<std::string> parts;
      if (group.invalid > 0) parts.push_back("invalid " + std::to_string(group.invalid) + "/" + std::to_string(group.records));
      if (group.failed > 0) parts.push_back("failed " + std::to_string(group.failed) + "/" + std::to_string(group.records));
      verdict = join(parts, ", ");
    }
    any_invalid = any_invalid || group.invalid > 0;
    any_failed = any_failed || group.failed > 0;
    row.push_back(Cell::of_text(verdict));
    table.rows.push_back(std::move(row));
  }
  if (any_invalid) {
    table.notes.push_back("invalid: the measurement protocol flagged the samples (spread, frequency or temperature); "
                          "the figures are shown and used, but read them with care.");
  }
  if (any_failed) {
    table.notes.push_back("failed: no figures (device unreachable or runner error); failed measurements are left "
                          "out of every mean, speed-up and ratio; the run's latency rows hold the error.");
  }
  hoist_constant_columns(table);
  return table;
}

// ---- selection ----

Table selection_table(const std::vector<RunData>& runs) {
  const SiblingLayers optimal(runs, "optimal");
  struct Group {
    std::vector<double> fraction, vs_optimal, seconds;
  };
  std::map<std::vector<std::string>, Group, ValuesLess> groups;
  for (const auto& run : runs) {
    if (!run.done()) continue;
    for (const auto& layer : run.layers) {
      const std::vector<std::string> key = {std::to_string(layer.rows), std::to_string(layer.cols),
                                            block_text(layer.block_rows, layer.block_cols),
                                            run.param_text("prune.sparsity"), layer.method};
      Group& group = groups[key];
      if (layer.total_importance > 0) group.fraction.push_back(layer.retained_importance / layer.total_importance);
      const results::LayerRecord* optimum = optimal.find(run, layer.layer);
      if (optimum != nullptr && optimum->retained_importance > 0) {
        group.vs_optimal.push_back(layer.retained_importance / optimum->retained_importance);
      }
      group.seconds.push_back(1e3 * layer.selection_seconds);
    }
  }

  Table table;
  table.name = "selection";
  table.title = "Selection";
  table.caption = "Per layer shape and method: the importance the chosen blocks retain, as a fraction of the "
                  "layer's total and relative to the optimal selection of the same layer, and the selection "
                  "time per layer in milliseconds; means over layers and runs.";
  for (const char* name : {"shape", "block", "prune.sparsity", "method"}) table.columns.push_back(axis_column(name));
  table.columns.push_back(value_column("layers"));
  table.columns.push_back(value_column("retained fraction", 4));
  table.columns.push_back(value_column("vs optimal", 4));
  table.columns.push_back(value_column("ms per layer", 3));
  bool any_optimal = false;
  for (const auto& [key, group] : groups) {
    std::vector<Cell> row = {Cell::of_text(key[0] + "x" + key[1]), Cell::of_text(key[2]), Cell::of_text(key[3]),
                             Cell::of_text(key[4])};
    row.push_back(Cell::of_number(static_cast<double>(group.seconds.size())));
    row.push_back(group.fraction.empty() ? Cell::empty() : Cell::of_number(mean_of(group.fraction)));
    row.push_back(group.vs_optimal.empty() ? Cell::empty() : Cell::of_number(mean_of(group.vs_optimal)));
    any_optimal = any_optimal || !group.vs_optimal.empty();
    row.push_back(Cell::of_number(mean_of(group.seconds)));
    table.rows.push_back(std::move(row));
  }
  if (!any_optimal && !table.rows.empty()) {
    table.notes.push_back("No run with prune.method=optimal and otherwise equal parameters: add `optimal` to the "
                          "sweep's methods for the relative column.");
  }
  hoist_constant_columns(table);
  return table;
}

// ---- one run's layers ----

std::vector<LayerLatency> layer_latencies(const RunData& run) {
  std::vector<LayerLatency> out;
  for (const auto& record : run.latency) {
    if (record.failed) continue;
    const auto detail = nlohmann::json::parse(record.detail_json, nullptr, false);
    if (detail.is_discarded() || !detail.is_object() || !detail.contains("layers") || !detail["layers"].is_array()) {
      continue;
    }
    LayerLatency t{record.kernel, record.device, record.threads, {}};
    for (const auto& layer : detail["layers"]) {
      if (layer.is_object() && layer.contains("name") && layer["name"].is_string() && layer.contains("p50_ms") &&
          layer["p50_ms"].is_number()) {
        t.p50_ms_by_layer[layer["name"].get<std::string>()] = layer["p50_ms"].get<double>();
      }
    }
    if (!t.p50_ms_by_layer.empty()) out.push_back(std::move(t));
  }
  return out;
}

Table layer_table(const RunData& run) {
  Table table;
  table.name = "layers-" + run.row.run_id;
  table.title = "Layers of run " + run.row.run_id;
  table.caption = "Each pruned layer of run " + run.row.run_id + ": shape, block shape, kept blocks, achieved "
                  "sparsity, the fraction of its importance retained, and its measured latency where recorded.";
  for (const char* name : {"layer", "shape", "block", "method"}) table.columns.push_back(axis_column(name));
  table.columns.front().axis = false;  // the row's identity, never hoisted
  table.columns.push_back(value_column("kept blocks"));
  table.columns.push_back(value_column("sparsity", 4));
  table.columns.push_back(value_column("retained fraction", 4));

  // One latency column per measured (kernel, device, threads) whose detail lists layers, and a
  // speed-up column for each non-dense kernel measured beside a dense one.
  const std::vector<LayerLatency> times = layer_latencies(run);
  struct SpeedUp {
    const LayerLatency* dense;
    const LayerLatency* sparse;
  };
  std::vector<SpeedUp> speedups;
  for (const auto& sparse : times) {
    if (sparse.kernel == "dense") continue;
    for (const auto& dense : times) {
      if (dense.kernel == "dense" && dense.device == sparse.device && dense.threads == sparse.threads) {
        speedups.push_back({&dense, &sparse});
        break;
      }
    }
  }
  const auto setting = [](const LayerLatency& t) {
    return " (" + t.device + ", " + std::to_string(t.threads) + "t)";
  };
  for (const auto& t : times) table.columns.push_back(value_column(t.kernel + " ms" + setting(t), 4));
  for (const auto& s : speedups) table.columns.push_back(value_column("speed-up " + s.sparse->kernel + setting(*s.sparse), 2));

  for (const auto& layer : run.layers) {
    std::vector<Cell> row = {Cell::of_text(layer.layer), Cell::of_text(std::to_string(layer.rows) + "x" +
                                                                       std::to_string(layer.cols)),
                             Cell::of_text(block_text(layer.block_rows, layer.block_cols)), Cell::of_text(layer.method)};
    row.push_back(Cell::of_number(static_cast<double>(layer.kept_blocks)));
    row.push_back(Cell::of_number(layer.sparsity));
    row.push_back(layer.total_importance > 0 ? Cell::of_number(layer.retained_importance / layer.total_importance)
                                             : Cell::empty());
    for (const auto& t : times) {
      const auto it = t.p50_ms_by_layer.find(layer.layer);
      row.push_back(it == t.p50_ms_by_layer.end() ? Cell::empty() : Cell::of_number(it->second));
    }
    for (const auto& s : speedups) {
      const auto dense = s.dense->p50_ms_by_layer.find(layer.layer);
      const auto sparse = s.sparse->p50_ms_by_layer.find(layer.layer);
      const bool both = dense != s.dense->p50_ms_by_layer.end() && sparse != s.sparse->p50_ms_by_layer.end() &&
                        sparse->second > 0;
      row.push_back(both ? Cell::of_number(dense->second / sparse->second) : Cell::empty());
    }
    table.rows.push_back(std::move(row));
  }
  hoist_constant_columns(table);
  return table;
}

}  // namespace ubp::reports
