// Claims judged on selection results: BED's retained importance against optimal's, and its
// selection time against the exact reference dynamic program (optimal-dp).
#include <algorithm>
#include <map>
#include <optional>

#include "claim_rules.h"

namespace ubp::reports {

namespace {

using namespace claim_rules;

// The scope of a selection result: block shape and sparsity, as the paper's tables split them.
std::vector<std::string> scope_of(const RunData& run) {
  return {run.param_text("prune.block"), run.param_text("prune.sparsity")};
}

std::string scope_text(const std::vector<std::string>& scope) {
  return "block " + block_label(scope[0]) + ", sparsity " + scope[1];
}

// A bed selection run's retained importance over optimal's on the same matrices: the run's
// own retained_vs_optimal (optimal solved in the same run), else the sum over its layers of
// what it retains over what the sibling optimal run retains (SiblingLayers, as the selection
// table compares them); none when a layer has no sibling.
std::optional<double> importance_vs_optimal(const RunData& run, const SiblingLayers& optimal) {
  const auto metric = run.metrics.find("retained_vs_optimal");
  if (metric != run.metrics.end()) return metric->second;
  if (run.layers.empty()) return std::nullopt;
  double retained = 0, optimum = 0;
  for (const auto& layer : run.layers) {
    const results::LayerRecord* best = optimal.find(run, layer.layer);
    if (best == nullptr) return std::nullopt;
    retained += layer.retained_importance;
    optimum += best->retained_importance;
  }
  if (optimum <= 0) return std::nullopt;
  return retained / optimum;
}

std::string percent(double fraction) { return fixed_decimals(100.0 * fraction, 3) + " %"; }

// The runs of `method` by their settings apart from the method (settings_key).
std::map<std::string, const RunData*> runs_by_settings(const std::vector<RunData>& runs, const std::string& method) {
  std::map<std::string, const RunData*> out;
  for (const auto& run : runs) {
    if (run.done() && run.param_text("prune.method") == method) out[settings_key(run, {"prune.method"})] = &run;
  }
  return out;
}

// optimal-dp's selection seconds over bed's on the same matrices: per layer where both runs
// recorded the layer with a time, else the runs' selection_seconds.
std::vector<double> dp_over_bed(const RunData& bed, const RunData& dp) {
  std::map<std::string, double> dp_seconds;
  for (const auto& layer : dp.layers) dp_seconds[layer.layer] = layer.selection_seconds;
  std::vector<double> ratios;
  for (const auto& layer : bed.layers) {
    const auto it = dp_seconds.find(layer.layer);
    if (it != dp_seconds.end() && layer.selection_seconds > 0 && it->second > 0) {
      ratios.push_back(it->second / layer.selection_seconds);
    }
  }
  if (!ratios.empty()) return ratios;
  const auto bed_seconds = bed.metrics.find("selection_seconds");
  const auto dp_total = dp.metrics.find("selection_seconds");
  if (bed_seconds != bed.metrics.end() && dp_total != dp.metrics.end() && bed_seconds->second > 0 &&
      dp_total->second > 0) {
    ratios.push_back(dp_total->second / bed_seconds->second);
  }
  return ratios;
}

Verdict speed_verdict(double median_ratio) {
  if (median_ratio >= kOrdersOfMagnitude) return Verdict::kSupported;
  if (median_ratio < kOneOrderOfMagnitude) return Verdict::kContradicted;
  return Verdict::kInconclusive;
}

ClaimLine ratio_line(const std::string& scope, const std::vector<double>& ratios) {
  ClaimLine line = median_line(scope, ratios);
  line.evidence = "optimal-dp / bed selection time: " + median_range_text(line, times) + " over " +
                  counted(ratios.size(), "layer or run", "layers or runs");
  line.verdict = speed_verdict(*line.estimate);
  return line;
}

}  // namespace

Claim claim_bed_keeps_optimal_importance(const std::vector<RunData>& runs) {
  const std::string floor = fixed_decimals(100.0 * kBedImportanceFloor, 1) + " %";
  Claim claim = new_claim(
      "bed-importance", "BED keeps at least 99.8 % of the importance optimal UBP keeps",
      "Selection runs (experiment.kind=selection) of bed: the importance their blocks retain over what optimal "
      "retains on the same matrices (the run's retained_vs_optimal metric, or the layers of the optimal run "
      "with the same settings). Per block shape and sparsity: supported when the mean over runs is at least " +
          floor + ", contradicted below. For the claim: supported when every group is supported, contradicted "
          "when the mean over all runs is below " + floor + ", inconclusive otherwise. Training runs are left "
          "out: each method chooses its masks on its own trained weights, so the importance of the dense "
          "weights they keep does not compare the selectors.",
      "run bed as a selection sweep, e.g. `experiment: {kind: selection}` with `sweep: {prune.method: [bed], "
      "prune.sparsity: [0.5, 0.8]}` (selection.compare_to_optimal: true, the default, records "
      "retained_vs_optimal).");
  const SiblingLayers optimal(runs, "optimal");
  std::map<std::vector<std::string>, std::vector<double>, ValuesLess> by_scope;
  std::vector<double> all;
  for (const auto& run : runs) {
    if (!run.done() || run.row.kind != "selection" || run.param_text("prune.method") != "bed") continue;
    const auto ratio = importance_vs_optimal(run, optimal);
    if (!ratio) continue;
    by_scope[scope_of(run)].push_back(*ratio);
    all.push_back(*ratio);
  }
  if (all.empty()) return claim;
  bool every_scope = true;
  for (const auto& [scope, ratios] : by_scope) {
    ClaimLine line;
    line.scope = scope_text(scope);
    line.estimate = mean_of(ratios);
    line.low = *std::min_element(ratios.begin(), ratios.end());
    line.high = *std::max_element(ratios.begin(), ratios.end());
    line.n = ratios.size();
    line.evidence = "bed keeps " + percent(*line.estimate) + " of optimal's importance (mean; lowest " +
                    percent(*line.low) + ") over " + counted(ratios.size(), "run", "runs");
    line.verdict = *line.estimate >= kBedImportanceFloor ? Verdict::kSupported : Verdict::kContradicted;
    every_scope = every_scope && line.verdict == Verdict::kSupported;
    claim.lines.push_back(line);
  }
  const double mean = mean_of(all);
  claim.verdict = every_scope ? Verdict::kSupported
                  : mean < kBedImportanceFloor ? Verdict::kContradicted
                                               : Verdict::kInconclusive;
  claim.summary = "bed keeps " + percent(mean) + " of optimal's importance on average over " +
                  counted(all.size(), "selection run", "selection runs") + " (lowest " +
                  percent(*std::min_element(all.begin(), all.end())) + "); " +
                  tally(verdicts_of(claim.lines)) +
                  " of " + counted(claim.lines.size(), "group", "groups") + ".";
  return claim;
}

Claim claim_bed_faster_than_dp(const std::vector<RunData>& runs) {
  Claim claim = new_claim(
      "bed-speed", "BED is orders of magnitude faster than the exact reference dynamic program (optimal-dp)",
      "Runs of bed and of optimal-dp with otherwise equal settings (the same matrices): optimal-dp's selection "
      "time over bed's, per layer (layers table, selection seconds), or per run (selection_seconds) when the "
      "runs recorded no common layers. Per block shape and sparsity, and for the claim over every ratio: "
      "supported when the median ratio is at least " + fixed_decimals(kOrdersOfMagnitude, 0) + "x, contradicted below " +
          fixed_decimals(kOneOrderOfMagnitude, 0) + "x, inconclusive in between (one order of magnitude, not two).",
      "run both selectors on the same matrices, e.g. `experiment: {kind: selection}` with `sweep: {prune.method: "
      "[bed, optimal-dp]}` (optimal-dp refuses layers whose tables exceed prune.memory_limit_mib).");
  const auto dp_runs = runs_by_settings(runs, "optimal-dp");
  std::map<std::vector<std::string>, std::vector<double>, ValuesLess> by_scope;
  std::vector<double> all;
  for (const auto& run : runs) {
    if (!run.done() || run.param_text("prune.method") != "bed") continue;
    const auto dp = dp_runs.find(settings_key(run, {"prune.method"}));
    if (dp == dp_runs.end()) continue;
    for (double ratio : dp_over_bed(run, *dp->second)) {
      by_scope[scope_of(run)].push_back(ratio);
      all.push_back(ratio);
    }
  }
  if (all.empty()) return claim;
  for (const auto& [scope, ratios] : by_scope) claim.lines.push_back(ratio_line(scope_text(scope), ratios));
  const ClaimLine overall = ratio_line("overall", all);
  claim.verdict = overall.verdict;
  claim.summary = overall.evidence + ".";
  return claim;
}

}  // namespace ubp::reports
