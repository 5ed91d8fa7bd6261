// What the claim files share: the verdict rules that recur and the way numbers are written in
// evidence. Internal to reports/src.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ubp/reports/claims.h"
#include "ubp/reports/statistics.h"
#include "ubp/support/statistics.h"

namespace ubp::reports::claim_rules {

// An interval above 0: supported; below 0: contradicted; containing 0, or no interval (one
// pair): inconclusive.
Verdict by_interval_side(const MeanInterval& interval);

// Several settings' verdicts into one: supported when at least one is supported and none is
// contradicted, contradicted when at least one is contradicted and none is supported,
// inconclusive otherwise (none decided, or they disagree); no evidence when there are none.
Verdict settle(const std::vector<Verdict>& verdicts);

// Supported when every value passes, contradicted when none does, inconclusive when some do;
// no evidence when there are no values.
Verdict every_value(const std::vector<double>& values, const std::function<bool(double)>& passes);

std::vector<Verdict> verdicts_of(const std::vector<ClaimLine>& lines);

// "2 supported, 1 inconclusive" (the verdicts that occur, in a fixed order).
std::string tally(const std::vector<Verdict>& verdicts);

std::string signed_fixed(double value, int decimals);  // 0.42 -> "+0.42" (fixed_decimals with a sign)
std::string times(double ratio);                        // 1.234 -> "1.23x", 812.4 -> "812x"
std::string counted(size_t n, const std::string& singular, const std::string& plural);  // "3 pairs"

// A line over `values` (not empty): estimate = their median, low and high = their range, n =
// their count; the caller writes the evidence and the verdict.
ClaimLine median_line(std::string scope, const std::vector<double>& values);

// "median 1.02 (0.98 to 1.04)", each number written by `write`.
std::string median_range_text(const ClaimLine& line, const std::function<std::string(double)>& write);

// A claim with its statement, rule and what to run; no lines yet (verdict: no evidence).
Claim new_claim(std::string key, std::string statement, std::string rule, std::string to_get_evidence);

}  // namespace ubp::reports::claim_rules
