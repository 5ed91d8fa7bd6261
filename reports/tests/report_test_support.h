// Helpers for the report tests: an RFC 4180 reader (written independently of the writer it
// checks), LaTeX table rows, and runs stored through the real results::Store.
#pragma once

#include <cctype>
#include <string>
#include <vector>

#include "ubp/results/store.h"

namespace ubp::reports::testing_support {

inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  bool field_started = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      field_started = true;
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(field);
      rows.push_back(row);
      row.clear();
      field.clear();
      field_started = false;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (field_started || !row.empty()) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

// The body rows of a booktabs tabular (between \midrule and \bottomrule), cells split on " & ".
inline std::vector<std::vector<std::string>> latex_rows(const std::string& tex) {
  std::vector<std::vector<std::string>> rows;
  const size_t begin = tex.find("\\midrule\n");
  const size_t end = tex.find("\\bottomrule");
  if (begin == std::string::npos || end == std::string::npos) return rows;
  size_t at = begin + 9;
  while (at < end) {
    const size_t eol = tex.find('\n', at);
    std::string line = tex.substr(at, eol - at);
    at = eol + 1;
    const std::string terminator = " \\\\";
    if (line.size() >= terminator.size()) line.erase(line.size() - terminator.size());
    std::vector<std::string> cells;
    size_t start = 0;
    for (size_t amp = line.find(" & "); amp != std::string::npos; amp = line.find(" & ", start)) {
      cells.push_back(line.substr(start, amp - start));
      start = amp + 3;
    }
    cells.push_back(line.substr(start));
    rows.push_back(cells);
  }
  return rows;
}

inline results::Param param(const std::string& key, const std::string& json) {
  results::Param p{key, json, std::nullopt};
  if (!json.empty() && (std::isdigit(static_cast<unsigned char>(json[0])) != 0 || json[0] == '-')) {
    p.number = std::stod(json);
  }
  return p;
}

inline void add_done_run(results::Store& store, const std::string& id, const std::string& kind,
                         const std::vector<results::Param>& params, const results::RunResult& result) {
  store.register_run(id, kind, "{}", params);
  store.mark_running(id, "host");
  store.finish_done(id, result);
}

// A done training run with the parameters the paired table and the claims read; `extra` adds
// or overrides parameters (bookkeeping, other settings).
struct TrainingRun {
  std::string id;
  std::string method;
  int seed = 0;
  double top1 = 0;
  std::string sparsity = "0.8";
  std::string block = "[4,1]";
  std::vector<results::Param> extra;
  std::vector<results::LatencyRecord> latency;
};

inline void add_training_run(results::Store& store, const TrainingRun& run) {
  std::vector<results::Param> params = {param("model.name", "\"mobilenet_v1\""), param("prune.block", run.block),
                                        param("prune.sparsity", run.sparsity),
                                        param("prune.method", "\"" + run.method + "\""),
                                        param("prune.schedule", "\"gmp\""),
                                        param("experiment.seed", std::to_string(run.seed))};
  for (const auto& p : run.extra) {
    bool replaced = false;
    for (auto& existing : params) {
      if (existing.key == p.key) {
        existing = p;
        replaced = true;
      }
    }
    if (!replaced) params.push_back(p);
  }
  results::RunResult result;
  result.metrics = {{"top1", 0, run.top1}};
  result.latency = run.latency;
  add_done_run(store, run.id, "training", params, result);
}

// A latency row of `kernel` on device "local" with 1 thread.
inline results::LatencyRecord latency_record(const std::string& kernel, double p50_ms, double p90_ms,
                                             bool valid = true, bool failed = false) {
  results::LatencyRecord r;
  r.model = kernel + ".ubpm";
  r.device = "local";
  r.kernel = kernel;
  r.threads = 1;
  r.p50_ms = p50_ms;
  r.p90_ms = p90_ms;
  r.valid = valid;
  r.failed = failed;
  if (failed) r.error = "device unreachable";
  return r;
}

// The same with p90 10 % above p50, for tests that read only p50.
inline results::LatencyRecord latency_row(const std::string& kernel, double p50_ms, bool valid = true,
                                          bool failed = false) {
  return latency_record(kernel, p50_ms, 1.1 * p50_ms, valid, failed);
}

}  // namespace ubp::reports::testing_support
