// Claims judged on the latency table: the unaligned (WROS) kernel against the aligned one, a
// naive unaligned kernel against it, and each pruned model against the dense one. Only
// measurements the protocol accepted count (valid = 1, status ok): an invalid or failed row
// says nothing about a kernel's speed.
#include <algorithm>
#include <map>
#include <set>

#include "claim_rules.h"

namespace ubp::reports {

namespace {

using namespace claim_rules;

// Where a measurement ran: device and threads.
using Setting = std::pair<std::string, int>;

std::string setting_text(const Setting& s) {
  return s.first + ", " + counted(static_cast<size_t>(s.second), "thread", "threads");
}

// A run's accepted p50s: (device, threads) -> kernel -> mean p50 of its accepted rows.
std::map<Setting, std::map<std::string, double>> accepted_p50(const RunData& run) {
  std::map<Setting, std::map<std::string, std::vector<double>>> values;
  for (const auto& record : run.latency) {
    if (record.failed || !record.valid || record.p50_ms <= 0) continue;
    values[{record.device, record.threads}][record.kernel].push_back(record.p50_ms);
  }
  std::map<Setting, std::map<std::string, double>> out;
  for (const auto& [setting, kernels] : values) {
    for (const auto& [kernel, p50s] : kernels) out[setting][kernel] = mean_of(p50s);
  }
  return out;
}

size_t rows_not_accepted(const std::vector<RunData>& runs) {
  size_t n = 0;
  for (const auto& run : runs) {
    if (!run.done()) continue;
    for (const auto& record : run.latency) n += record.failed || !record.valid ? 1 : 0;
  }
  return n;
}

std::string not_accepted_text(const std::vector<RunData>& runs) {
  const size_t n = rows_not_accepted(runs);
  if (n == 0) return "";
  return " " + counted(n, "latency row", "latency rows") + " left out as invalid or failed.";
}

// Whether the run pruned its model: the dense baseline (prune.method none) keeps every block, so
// its model packed in the block formats times a kernel on a fully dense pattern, which says
// nothing about pruned models and would count in every kernel claim otherwise.
bool pruned(const RunData& run) {
  const std::string method = run.param_text("prune.method");
  return !method.empty() && method != "none";
}

// Ratios of one kernel's p50 over another's, per (device, threads), over the pruned runs that
// measured both in accepted rows.
std::map<Setting, std::vector<double>> kernel_ratios(const std::vector<RunData>& runs, const std::string& kernel,
                                                     const std::string& baseline) {
  std::map<Setting, std::vector<double>> out;
  for (const auto& run : runs) {
    if (!run.done() || !pruned(run)) continue;
    for (const auto& [setting, kernels] : accepted_p50(run)) {
      const auto k = kernels.find(kernel);
      const auto b = kernels.find(baseline);
      if (k != kernels.end() && b != kernels.end()) out[setting].push_back(k->second / b->second);
    }
  }
  return out;
}

ClaimLine ratio_line(const std::string& scope, const std::string& what, const std::vector<double>& ratios,
                     const std::function<bool(double)>& passes, const std::string& passing) {
  ClaimLine line = median_line(scope, ratios);
  const size_t pass = static_cast<size_t>(std::count_if(ratios.begin(), ratios.end(), passes));
  line.evidence = what + ": " + median_range_text(line, [](double r) { return fixed_decimals(r, 3); }) + " over " +
                  counted(ratios.size(), "run", "runs") + ", " + std::to_string(pass) + " " + passing;
  line.verdict = every_value(ratios, passes);
  return line;
}

// One line per (device, threads) and an overall line over every ratio, which decides the claim.
void judge_kernel_ratios(Claim& claim, const std::vector<RunData>& runs, const std::string& kernel,
                         const std::function<bool(double)>& passes, const std::string& passing) {
  const auto ratios = kernel_ratios(runs, kernel, "aligned");
  std::vector<double> all;
  for (const auto& [setting, values] : ratios) {
    claim.lines.push_back(ratio_line(setting_text(setting), kernel + " / aligned p50", values, passes, passing));
    all.insert(all.end(), values.begin(), values.end());
  }
  if (all.empty()) {
    claim.summary = not_accepted_text(runs);
    if (!claim.summary.empty()) claim.summary.erase(0, 1);
    return;
  }
  const ClaimLine overall = ratio_line("overall", kernel + " / aligned p50", all, passes, passing);
  claim.verdict = overall.verdict;
  claim.summary = overall.evidence + "." + not_accepted_text(runs);
}

const std::string kMeasureEveryKernel =
    "measure aligned training runs (aligned masks fit every block format) with every block kernel, e.g. "
    "`latency: {devices: local, kernels: \"dense,aligned,unaligned,unaligned-naive\"}` with prune.method: "
    "aligned, on an idle machine so that the rows are valid.";

std::string tolerance_text() { return fixed_decimals(100.0 * (kKernelTolerance - 1.0), 0) + " %"; }

}  // namespace

Claim claim_wros_near_aligned(const std::vector<RunData>& runs) {
  Claim claim = new_claim(
      "wros-latency", "The unaligned (WROS) kernel runs within 5 % of the aligned kernel",
      "Latency rows of the same pruned run (prune.method not none), device and threads, accepted by the "
      "protocol (valid, status ok): the p50 of kernel unaligned over the p50 of kernel aligned (the same blocks in both formats). Per device and "
      "threads, and for the claim over every ratio: supported when every ratio is at most " +
          fixed_decimals(kKernelTolerance, 2) + ", contradicted when every ratio is above, inconclusive when they "
          "disagree.",
      kMeasureEveryKernel);
  judge_kernel_ratios(claim, runs, "unaligned", [](double r) { return r <= kKernelTolerance; },
                      "within " + tolerance_text());
  return claim;
}

Claim claim_naive_unaligned_slower(const std::vector<RunData>& runs) {
  Claim claim = new_claim(
      "naive-latency", "A naive unaligned kernel (no weight rotation, no output ring) does not run within 5 % of "
      "the aligned kernel",
      "Latency rows of the same pruned run (prune.method not none), device and threads, accepted by the "
      "protocol (valid, status ok): the p50 of kernel unaligned-naive over the p50 of kernel aligned. Per device and threads, and for the claim "
      "over every ratio: supported when every ratio is above " +
          fixed_decimals(kKernelTolerance, 2) + ", contradicted when every ratio is at most " + fixed_decimals(kKernelTolerance, 2) +
          ", inconclusive when they disagree.",
      kMeasureEveryKernel);
  judge_kernel_ratios(claim, runs, "unaligned-naive", [](double r) { return r > kKernelTolerance; },
                      "slower by more than " + tolerance_text());
  return claim;
}

Claim claim_speedup_over_dense(const std::vector<RunData>& runs) {
  Claim claim = new_claim(
      "speedup", "Pruned models run faster than the dense model on each device",
      "Per run, device and threads, from latency rows accepted by the protocol (valid, status ok): the dense "
      "kernel's p50 over the p50 of the method's own kernel (aligned for prune.method aligned, unaligned for "
      "the unaligned methods). Per device, threads and method, per device and threads, and for the claim over "
      "every speed-up: supported when every speed-up is above 1, contradicted when none is, inconclusive when "
      "some are.",
      "measure the pruned training runs and their dense models, e.g. `latency: {devices: local}` (kernels: "
      "auto measures dense and the method's own format), on an idle machine so that the rows are valid.");
  // (device, threads) -> method -> sparsity -> speed-ups.
  std::map<Setting, std::map<std::string, std::map<std::string, std::vector<double>, ValuesLess>>> speedups;
  for (const auto& run : runs) {
    if (!run.done() || !pruned(run)) continue;
    const std::string method = run.param_text("prune.method");
    const std::string own = method == "aligned" ? "aligned" : "unaligned";
    for (const auto& [setting, kernels] : accepted_p50(run)) {
      const auto dense = kernels.find("dense");
      const auto sparse = kernels.find(own);
      if (dense == kernels.end() || sparse == kernels.end()) continue;
      speedups[setting][method][run.param_text("prune.sparsity")].push_back(dense->second / sparse->second);
    }
  }
  const auto faster = [](double s) { return s > 1.0; };
  std::vector<double> all;
  std::vector<ClaimLine> method_lines;
  for (const auto& [setting, by_method] : speedups) {
    std::vector<double> on_device;
    for (const auto& [method, by_sparsity] : by_method) {
      std::vector<double> values;
      std::string per_sparsity;
      for (const auto& [sparsity, s] : by_sparsity) {
        values.insert(values.end(), s.begin(), s.end());
        per_sparsity += (per_sparsity.empty() ? "" : ", ") + sparsity + ": " + times(support::median(s));
      }
      ClaimLine line = median_line(setting_text(setting) + ", " + method, values);
      line.evidence = "speed-up over dense: " + median_range_text(line, times) + " over " +
                      counted(values.size(), "run", "runs") + "; median by sparsity " + per_sparsity;
      line.verdict = every_value(values, faster);
      method_lines.push_back(line);
      on_device.insert(on_device.end(), values.begin(), values.end());
    }
    ClaimLine device_line = median_line(setting_text(setting) + ", every method", on_device);
    const size_t fast = static_cast<size_t>(std::count_if(on_device.begin(), on_device.end(), faster));
    device_line.evidence = "speed-up over dense: " + median_range_text(device_line, times) + ", " +
                           std::to_string(fast) + " of " + counted(on_device.size(), "run", "runs") + " faster";
    device_line.verdict = every_value(on_device, faster);
    claim.lines.push_back(device_line);
    claim.summary += (claim.summary.empty() ? "" : "; ") + setting_text(setting) + ": " + device_line.evidence +
                     " (" + to_string(device_line.verdict) + ")";
    all.insert(all.end(), on_device.begin(), on_device.end());
  }
  claim.lines.insert(claim.lines.end(), method_lines.begin(), method_lines.end());
  if (all.empty()) {
    claim.summary = not_accepted_text(runs);
    if (!claim.summary.empty()) claim.summary.erase(0, 1);
    return claim;
  }
  claim.verdict = every_value(all, faster);
  claim.summary += "." + not_accepted_text(runs);
  return claim;
}

}  // namespace ubp::reports
