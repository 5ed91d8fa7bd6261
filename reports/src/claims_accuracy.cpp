// Claims judged on paired top-1 differences (paired.h): UBP against ABP, BED against optimal.
#include <map>

#include "claim_rules.h"
#include "ubp/reports/paired.h"

namespace ubp::reports {

namespace {

using namespace claim_rules;

const char* const kTop1 = "top1";

// "+0.42 points, 95% CI [+0.10, +0.74], 3 pairs" (no interval for a single pair).
std::string difference_text(const PairedComparison& c) {
  std::string text = c.method + " - " + c.reference + ": " + signed_fixed(c.difference.mean, 2) + " points";
  if (c.difference.has_interval()) {
    text += ", 95% CI [" + signed_fixed(*c.difference.low, 2) + ", " + signed_fixed(*c.difference.high, 2) + "]";
  } else {
    text += ", no interval";
  }
  text += ", " + counted(c.difference.n, "pair", "pairs");
  if (c.unpaired > 0) text += " (" + counted(c.unpaired, "unpaired run", "unpaired runs") + " left out)";
  return text;
}

ClaimLine line_of(const PairedComparison& c, const std::vector<std::string>& setting_keys, Verdict verdict) {
  ClaimLine line;
  line.scope = c.method + " vs " + c.reference + ", " + settings_label(c, setting_keys);
  line.evidence = difference_text(c);
  line.verdict = verdict;
  line.estimate = c.difference.mean;
  line.low = c.difference.low;
  line.high = c.difference.high;
  line.n = c.difference.n;
  return line;
}

std::string left_out_text(const PairedComparisons& paired, const std::string& reference) {
  std::string text;
  if (paired.unpaired_runs > 0) {
    text += " " + counted(paired.unpaired_runs, "run", "runs") + " left out for want of a run with the same seed.";
  }
  if (paired.without_reference > 0) {
    text += " " + counted(paired.without_reference, "run", "runs") + " without any " + reference +
            " run of the same settings.";
  }
  return text;
}

// Judges each comparison with `judge`, adds one line per setting after one overall line per
// method (settled over its settings), and settles the claim over every setting; `no_pair` is
// the summary when nothing could be paired.
void judge_comparisons(Claim& claim, const PairedComparisons& paired, const std::string& no_pair,
                       const std::function<Verdict(const MeanInterval&)>& judge) {
  std::map<std::string, std::vector<Verdict>> by_method;
  std::vector<ClaimLine> settings_lines;
  std::vector<Verdict> all;
  for (const auto& c : paired.comparisons) {
    if (c.difference.n == 0) continue;
    const Verdict verdict = judge(c.difference);
    settings_lines.push_back(line_of(c, paired.setting_keys, verdict));
    by_method[c.method].push_back(verdict);
    all.push_back(verdict);
  }
  std::string summary;
  for (const auto& [method, verdicts] : by_method) {
    ClaimLine overall;
    overall.scope = method + " vs " + paired.comparisons.front().reference + ", all settings";
    overall.evidence = counted(verdicts.size(), "setting", "settings") + ": " + tally(verdicts);
    overall.verdict = settle(verdicts);
    overall.n = verdicts.size();
    summary += (summary.empty() ? "" : "; ") + method + ": " + overall.evidence + " (" + to_string(overall.verdict) + ")";
    claim.lines.push_back(overall);
  }
  claim.lines.insert(claim.lines.end(), settings_lines.begin(), settings_lines.end());
  claim.verdict = settle(all);
  const std::string reference = paired.comparisons.empty() ? "" : paired.comparisons.front().reference;
  claim.summary = (summary.empty() ? no_pair : summary + ".") + left_out_text(paired, reference);
}

}  // namespace

Claim claim_ubp_keeps_more_top1(const std::vector<RunData>& runs) {
  Claim claim = new_claim(
      "ubp-top1", "UBP (optimal, bed) keeps more top-1 than ABP (aligned) at equal sparsity and block shape",
      "Training runs that differ only in prune.method are paired by experiment.seed. Per group of settings and "
      "method: the mean of the paired differences of top1 (method - aligned) with its 95% confidence interval "
      "(Student's t, pairs - 1 degrees of freedom); supported when the interval lies above 0, contradicted when "
      "it lies below 0, inconclusive when it contains 0 or there is a single pair. Per method and for the claim: "
      "supported when at least one group is supported and none contradicted, contradicted when at least one is "
      "contradicted and none supported, inconclusive otherwise.",
      "train optimal and bed beside aligned with the same seeds, e.g. `sweep: {prune.method: [aligned, optimal, "
      "bed], experiment.seed: [0, 1, 2]}` in a kind: training config (at least 2 seeds for an interval).");
  const PairedComparisons paired = paired_comparisons(runs, kTop1, "aligned", {"optimal", "bed"});
  judge_comparisons(claim, paired, "No done run of optimal or bed with top1 has an aligned run of the same seed and settings.",
                    by_interval_side);
  return claim;
}

Claim claim_bed_matches_optimal_top1(const std::vector<RunData>& runs) {
  const std::string margin = "\u00b1" + format_number(kBedTop1MarginPoints);
  Claim claim = new_claim(
      "bed-top1", "BED matches the top-1 of optimal UBP within noise",
      "Training runs of bed and optimal paired by experiment.seed. Per group of settings: the mean of the paired "
      "differences of top1 (bed - optimal) with its 95% confidence interval (Student's t); supported when the "
      "interval contains 0 and lies within " + margin + " point, contradicted when it excludes 0 (bed differs "
      "from optimal beyond noise; the sign says which way), inconclusive when it contains 0 but reaches past " +
          margin + " point or there is a single pair. For the claim: supported when at least one group is "
      "supported and none contradicted, contradicted when at least one is contradicted and none supported, "
      "inconclusive otherwise.",
      "train bed and optimal with the same seeds, e.g. `sweep: {prune.method: [optimal, bed], experiment.seed: "
      "[0, 1, 2]}` in a kind: training config.");
  const PairedComparisons paired = paired_comparisons(runs, kTop1, "optimal", {"bed"});
  const auto within_noise = [](const MeanInterval& d) {
    if (!d.has_interval()) return Verdict::kInconclusive;
    if (*d.low > 0 || *d.high < 0) return Verdict::kContradicted;
    if (*d.low >= -kBedTop1MarginPoints && *d.high <= kBedTop1MarginPoints) return Verdict::kSupported;
    return Verdict::kInconclusive;
  };
  judge_comparisons(claim, paired, "No done run of bed with top1 has an optimal run of the same seed and settings.",
                    within_noise);
  return claim;
}

}  // namespace ubp::reports
