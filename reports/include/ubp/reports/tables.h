// The paper tables of a report, built from the runs of a results database: accuracy, latency,
// selection quality and one run's layers. Each builder takes runs already loaded and filtered,
// so the tests and the figures can feed it exactly the runs they mean.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "ubp/reports/table.h"
#include "ubp/results/store.h"

namespace ubp::reports {

// Thrown for everything that stops a report: an empty or filtered-out database, a bad --where,
// an unknown key or run, an unwritable folder. The message says what was asked and what exists.
class ReportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One run with everything the tables read from it.
struct RunData {
  results::RunRow row;
  std::map<std::string, results::Param> params;
  std::map<std::string, double> metrics;  // each key's value at its highest step (final value)
  std::vector<results::LayerRecord> layers;
  std::vector<results::LatencyRecord> latency;

  bool has_param(const std::string& key) const { return params.count(key) != 0; }
  // The parameter as a table shows it: strings without their quotes, "" when missing.
  std::string param_text(const std::string& key) const;
  bool done() const { return row.status == results::RunStatus::kDone; }
};

// Parameters that label or place a run without changing what it computes: the keys the config
// schema leaves out of the run id (experiment.name, output.*, latency.*, slurm.*,
// train.distributed.*, train.threads, data.loader_threads, data.cache,
// prune.memory_limit_mib). Runs compared with one another may differ in them.
bool is_bookkeeping_param(const std::string& key);

// The run's parameters as one text, without bookkeeping and without the keys in `ignored`:
// two runs with the same key ran the same experiment apart from those keys (for example
// ignored = {prune.method}: the same matrices or the same training, another selector).
std::string settings_key(const RunData& run, const std::set<std::string>& ignored);

// Orders table values numerically when both are numbers, as text otherwise, so a sweep over
// 0.5, 0.9 and 10 reads in that order; vectors of them element by element.
bool value_less(const std::string& a, const std::string& b);
struct ValuesLess {
  bool operator()(const std::string& a, const std::string& b) const { return value_less(a, b); }
  bool operator()(const std::vector<std::string>& a, const std::vector<std::string>& b) const;
};

// The layer records of the done runs of one method, found from another run of the same
// settings (settings_key ignoring prune.method) and the layer's name: the yardstick a method's
// layers are compared with (optimal's retained importance, optimal-dp's selection time).
class SiblingLayers {
 public:
  SiblingLayers(const std::vector<RunData>& runs, const std::string& method);
  // The sibling run's record of `layer`, or nullptr when there is none.
  const results::LayerRecord* find(const RunData& run, const std::string& layer) const;

 private:
  std::map<std::pair<std::string, std::string>, results::LayerRecord> layers_;  // (settings, layer)
};

// A block shape as the paper writes it: prune.block's "[4,1]" becomes "4x1".
std::string block_label(const std::string& block_param);

// Every run of the database, in list_runs order (creation time).
std::vector<RunData> load_runs(const results::Store& store);

// All parameter keys any run has, sorted.
std::set<std::string> known_param_keys(const std::vector<RunData>& runs);

// `--where key=value`. A run matches a clause when its parameter equals the value: as numbers
// when both are numbers (prune.sparsity=0.8 matches 0.80), otherwise as text, with a string's
// quotes and a list's spaces ignored (prune.block=[4,1] or prune.block=[4, 1]). Clauses on
// different keys must all match; clauses repeating a key match any of their values.
struct WhereClause {
  std::string key;
  std::string value;
};
WhereClause parse_where(const std::string& text);  // throws ReportError without '=' or key
std::string describe(const std::vector<WhereClause>& where);  // "a=1, b=x"

// Throws ReportError naming the key and listing `known_param_keys` when a clause's key is
// unknown to every run.
std::vector<RunData> filter_runs(const std::vector<RunData>& runs, const std::vector<WhereClause>& where);

struct AccuracyOptions {
  // Row axes; runs agreeing on all of them are averaged (typically: over seeds).
  std::vector<std::string> group_by = {"model.name", "prune.block", "prune.sparsity", "prune.method"};
  std::string metric = "top1";
};

// Rows: one per combination of the group-by parameters among done runs that have the metric.
// Columns: the group-by keys, the metric's mean ± sample standard deviation, the number of runs
// averaged, and the difference from the dense model: the mean of the runs' "dense.<metric>"
// when every run in the row has it, otherwise the mean over done runs with prune.method=none
// (of the same model.name when that is an axis). Throws ReportError for an unknown group-by
// key when user-chosen (`user_axes`), listing the known keys.
Table accuracy_table(const std::vector<RunData>& runs, const AccuracyOptions& options, bool user_axes = false);

// Rows: model x block x sparsity x method x kernel x device x threads over done runs' latency
// records, averaged over runs (seeds). p50 and p90 average the non-failed records; "status"
// says ok, or how many were invalid or failed. Speed-up over dense: per run, the same run's
// dense-kernel p50 over this p50 (else the p50 of the dense kernel of prune.method=none runs of
// the same model, device and threads). unaligned/aligned: on rows of the unaligned kernel, its
// mean p50 over the aligned kernel's mean p50 at the same model, sparsity, block, device and
// threads. Failed records are used for neither figure; invalid ones are, but are marked.
Table latency_table(const std::vector<RunData>& runs);

// Rows: layer shape x block x method (x sparsity) over the layers tables of done runs.
// Retained importance as a fraction of the layer's total, and relative to the optimum: the
// retained importance of the same layer in the run with prune.method=optimal whose other
// parameters are the same; selection seconds per layer.
Table selection_table(const std::vector<RunData>& runs);

// Per-layer median times of one latency record of a run (detail_json's "layers": name, p50_ms).
struct LayerLatency {
  std::string kernel;
  std::string device;
  int threads = 1;
  std::map<std::string, double> p50_ms_by_layer;
};
// The run's non-failed latency records that carry per-layer times, in record order.
std::vector<LayerLatency> layer_latencies(const RunData& run);

// One row per pruned layer of `run`; per-layer latency columns (p50 ms per kernel, device and
// threads) when the run's latency records carry per-layer times in their detail_json, and the
// per-layer speed-up of each non-dense kernel over the dense kernel on the same device and threads.
Table layer_table(const RunData& run);

}  // namespace ubp::reports
