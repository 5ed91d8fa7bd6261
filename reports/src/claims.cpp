#include "ubp/reports/claims.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "claim_rules.h"
#include "ubp/reports/html.h"

namespace ubp::reports {

namespace claim_rules {

Verdict by_interval_side(const MeanInterval& interval) {
  if (!interval.has_interval()) return Verdict::kInconclusive;
  if (*interval.low > 0) return Verdict::kSupported;
  if (*interval.high < 0) return Verdict::kContradicted;
  return Verdict::kInconclusive;
}

Verdict settle(const std::vector<Verdict>& verdicts) {
  if (verdicts.empty()) return Verdict::kNoEvidence;
  size_t supported = 0, contradicted = 0;
  for (Verdict v : verdicts) {
    supported += v == Verdict::kSupported ? 1 : 0;
    contradicted += v == Verdict::kContradicted ? 1 : 0;
  }
  if (supported > 0 && contradicted == 0) return Verdict::kSupported;
  if (contradicted > 0 && supported == 0) return Verdict::kContradicted;
  return Verdict::kInconclusive;
}

Verdict every_value(const std::vector<double>& values, const std::function<bool(double)>& passes) {
  if (values.empty()) return Verdict::kNoEvidence;
  size_t passing = 0;
  for (double v : values) passing += passes(v) ? 1 : 0;
  if (passing == values.size()) return Verdict::kSupported;
  if (passing == 0) return Verdict::kContradicted;
  return Verdict::kInconclusive;
}

std::vector<Verdict> verdicts_of(const std::vector<ClaimLine>& lines) {
  std::vector<Verdict> verdicts;
  for (const auto& line : lines) verdicts.push_back(line.verdict);
  return verdicts;
}

std::string tally(const std::vector<Verdict>& verdicts) {
  std::string out;
  for (Verdict kind : {Verdict::kSupported, Verdict::kContradicted, Verdict::kInconclusive}) {
    size_t n = 0;
    for (Verdict v : verdicts) n += v == kind ? 1 : 0;
    if (n > 0) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + to_string(kind);
  }
  return out;
}

std::string signed_fixed(double value, int decimals) {
  const std::string text = fixed_decimals(value, decimals);
  return text.front() == '-' ? text : "+" + text;
}

std::string times(double ratio) {
  const double magnitude = std::fabs(ratio);
  return fixed_decimals(ratio, magnitude < 10 ? 2 : magnitude < 100 ? 1 : 0) + "x";
}

std::string counted(size_t n, const std::string& singular, const std::string& plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

ClaimLine median_line(std::string scope, const std::vector<double>& values) {
  ClaimLine line;
  line.scope = std::move(scope);
  line.estimate = support::median(values);
  line.low = *std::min_element(values.begin(), values.end());
  line.high = *std::max_element(values.begin(), values.end());
  line.n = values.size();
  return line;
}

std::string median_range_text(const ClaimLine& line, const std::function<std::string(double)>& write) {
  return "median " + write(line.estimate.value_or(0)) + " (" + write(line.low.value_or(0)) + " to " +
         write(line.high.value_or(0)) + ")";
}

Claim new_claim(std::string key, std::string statement, std::string rule, std::string to_get_evidence) {
  Claim claim;
  claim.key = std::move(key);
  claim.statement = std::move(statement);
  claim.rule = std::move(rule);
  claim.to_get_evidence = std::move(to_get_evidence);
  return claim;
}

}  // namespace claim_rules

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kSupported: return "supported";
    case Verdict::kContradicted: return "contradicted";
    case Verdict::kInconclusive: return "inconclusive";
    case Verdict::kNoEvidence: return "no evidence";
  }
  return "no evidence";
}

std::vector<Claim> evaluate_claims(const std::vector<RunData>& runs) {
  return {claim_ubp_keeps_more_top1(runs),   claim_bed_keeps_optimal_importance(runs),
          claim_bed_matches_optimal_top1(runs), claim_bed_faster_than_dp(runs),
          claim_wros_near_aligned(runs),     claim_naive_unaligned_slower(runs),
          claim_speedup_over_dense(runs)};
}

namespace {

// The overall evidence of a claim: its summary, or for a claim without evidence what to run.
std::string overall_text(const Claim& claim) {
  if (claim.verdict == Verdict::kNoEvidence) {
    return (claim.summary.empty() ? "" : claim.summary + " ") + "To get evidence: " + claim.to_get_evidence;
  }
  return claim.summary;
}

Column text_column(const std::string& name) {
  Column c;
  c.name = name;
  return c;
}

Table summary_table(const std::vector<Claim>& claims) {
  Table table;
  table.name = "claims-summary";
  table.title = "Claims";
  table.caption = "Each claim of the paper with its verdict and the evidence in short.";
  table.columns = {value_column("#"), text_column("claim"), text_column("verdict"), text_column("evidence")};
  for (size_t i = 0; i < claims.size(); ++i) {
    table.rows.push_back({Cell::of_number(static_cast<double>(i + 1)), Cell::of_text(claims[i].statement),
                          Cell::of_text(to_string(claims[i].verdict)), Cell::of_text(overall_text(claims[i]))});
  }
  return table;
}

Table lines_table(const Claim& claim) {
  Table table;
  table.name = "claim-" + claim.key;
  table.title = claim.statement;
  table.caption = "The evidence, one line per group of settings.";
  table.columns = {text_column("scope"), text_column("evidence"), text_column("verdict")};
  for (const auto& line : claim.lines) {
    table.rows.push_back(
        {Cell::of_text(line.scope), Cell::of_text(line.evidence), Cell::of_text(to_string(line.verdict))});
  }
  return table;
}

std::string intro(size_t runs) {
  return "The paper's claims, judged on the " + claim_rules::counted(runs, "run", "runs") +
         " of this report by the rules stated under each; computed from the database every time the report is "
         "written, never by hand. Verdicts: supported, contradicted, inconclusive, or no evidence (then what to "
         "run). Also as tables/claims.csv.";
}

}  // namespace

Table claims_table(const std::vector<Claim>& claims) {
  Table table;
  table.name = "claims";
  table.title = "Claims";
  table.caption = "Each claim of the paper: an overall row with its verdict, then one row per piece of evidence.";
  table.columns = {text_column("key"),      text_column("claim"),  text_column("scope"),
                   text_column("verdict"),  text_column("evidence"), value_column("estimate"),
                   value_column("low"),     value_column("high"),  value_column("n"),
                   text_column("rule")};
  const auto optional_cell = [](const std::optional<double>& v) { return v ? Cell::of_number(*v) : Cell::empty(); };
  for (const auto& claim : claims) {
    table.rows.push_back({Cell::of_text(claim.key), Cell::of_text(claim.statement), Cell::of_text("overall"),
                          Cell::of_text(to_string(claim.verdict)), Cell::of_text(overall_text(claim)), Cell::empty(),
                          Cell::empty(), Cell::empty(), Cell::empty(), Cell::of_text(claim.rule)});
    for (const auto& line : claim.lines) {
      table.rows.push_back({Cell::of_text(claim.key), Cell::of_text(claim.statement), Cell::of_text(line.scope),
                            Cell::of_text(to_string(line.verdict)), Cell::of_text(line.evidence),
                            optional_cell(line.estimate), optional_cell(line.low), optional_cell(line.high),
                            Cell::of_number(static_cast<double>(line.n)), Cell::of_text(claim.rule)});
    }
  }
  return table;
}

std::string claims_markdown(const std::vector<Claim>& claims, size_t runs) {
  std::ostringstream md;
  md << "## Claims\n\n" << intro(runs) << "\n\n" << to_markdown(summary_table(claims)) << "\n";
  for (size_t i = 0; i < claims.size(); ++i) {
    const Claim& claim = claims[i];
    md << "### " << i + 1 << ". " << claim.statement << "\n\n";
    md << "Verdict: **" << to_string(claim.verdict) << "**. " << overall_text(claim) << "\n\n";
    md << "Rule: " << claim.rule << "\n\n";
    if (!claim.lines.empty()) md << to_markdown(lines_table(claim)) << "\n";
  }
  return md.str();
}

std::string claims_html(const std::vector<Claim>& claims, size_t runs) {
  std::ostringstream html;
  html << html_paragraph(intro(runs)) << to_html(summary_table(claims));
  for (size_t i = 0; i < claims.size(); ++i) {
    const Claim& claim = claims[i];
    html << "<h3 id=\"claim-" << html_escape(claim.key) << "\">" << i + 1 << ". " << html_escape(claim.statement)
         << "</h3>\n";
    html << "<p>Verdict: <strong class=\"verdict\">" << html_escape(to_string(claim.verdict)) << "</strong>. "
         << html_escape(overall_text(claim)) << "</p>\n";
    html << "<p class=\"ubp-note\">Rule: " << html_escape(claim.rule) << "</p>\n";
    if (!claim.lines.empty()) html << to_html(lines_table(claim));
  }
  return html.str();
}

}  // namespace ubp::reports
