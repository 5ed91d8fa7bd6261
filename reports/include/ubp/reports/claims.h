// The "Claims" section of every report: each claim of the paper judged on the report's runs,
// with the evidence (numbers), a verdict and the rule that gives it. Nothing is written by
// hand: the verdicts follow from the database each time the report is written, and a claim
// without runs to judge it says what to run.
//
// One file per kind of evidence: claims_accuracy.cpp (paired top-1 differences),
// claims_selection.cpp (retained importance and selection time of selection runs),
// claims_latency.cpp (latency rows); claims.cpp holds the verdict rules they share and the
// rendering.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ubp/reports/table.h"
#include "ubp/reports/tables.h"

namespace ubp::reports {

enum class Verdict { kSupported, kContradicted, kInconclusive, kNoEvidence };
const char* to_string(Verdict verdict);  // "supported", "contradicted", "inconclusive", "no evidence"

// One piece of evidence: a group of settings (or "overall"), its numbers and its verdict.
struct ClaimLine {
  std::string scope;
  std::string evidence;
  Verdict verdict = Verdict::kNoEvidence;
  // The number the verdict rests on and its interval or range, for the CSV.
  std::optional<double> estimate, low, high;
  size_t n = 0;  // pairs, runs, layers or measurements behind it
};

struct Claim {
  std::string key;        // stable identifier for scripts, e.g. "ubp-top1"
  std::string statement;  // the paper's claim
  std::string rule;       // how the verdicts follow from the evidence
  Verdict verdict = Verdict::kNoEvidence;
  std::string summary;          // the overall evidence in one sentence
  std::string to_get_evidence;  // what to run when the evidence is missing or thin
  std::vector<ClaimLine> lines;
};

// The thresholds of the rules, stated in each claim's rule text.
inline constexpr double kBedImportanceFloor = 0.998;     // BED keeps >= 99.8 % of optimal's importance
inline constexpr double kBedTop1MarginPoints = 1.0;      // "within noise": the 95 % CI inside +-1 point
inline constexpr double kOrdersOfMagnitude = 100.0;      // "orders of magnitude faster": >= 100x
inline constexpr double kOneOrderOfMagnitude = 10.0;     // below 10x the claim is contradicted
inline constexpr double kKernelTolerance = 1.05;         // "within 5 %" of the aligned kernel

// Every claim, in report order, judged on `runs` (the report's runs, after --where).
std::vector<Claim> evaluate_claims(const std::vector<RunData>& runs);

// The claims one by one.
// UBP (optimal, bed) keeps more top-1 than ABP (aligned): paired top-1 differences.
Claim claim_ubp_keeps_more_top1(const std::vector<RunData>& runs);
// BED keeps >= 99.8 % of optimal's importance: selection runs of bed.
Claim claim_bed_keeps_optimal_importance(const std::vector<RunData>& runs);
// BED matches optimal's top-1 within noise: paired bed - optimal differences.
Claim claim_bed_matches_optimal_top1(const std::vector<RunData>& runs);
// BED is orders of magnitude faster than the exact reference DP (optimal-dp).
Claim claim_bed_faster_than_dp(const std::vector<RunData>& runs);
// The unaligned (WROS) kernel runs within 5 % of the aligned one.
Claim claim_wros_near_aligned(const std::vector<RunData>& runs);
// A naive unaligned kernel (unaligned-naive) does not.
Claim claim_naive_unaligned_slower(const std::vector<RunData>& runs);
// Pruned models run faster than the dense model, on each device.
Claim claim_speedup_over_dense(const std::vector<RunData>& runs);

// tables/claims.csv: per claim an "overall" row (its verdict and summary, or what to run),
// then one row per line; columns key, claim, scope, verdict, evidence, estimate, low, high, n,
// rule.
Table claims_table(const std::vector<Claim>& claims);

// The section as report.md and index.html show it: a summary table of the verdicts, then each
// claim with its rule and its lines.
std::string claims_markdown(const std::vector<Claim>& claims, size_t runs);
std::string claims_html(const std::vector<Claim>& claims, size_t runs);

}  // namespace ubp::reports
