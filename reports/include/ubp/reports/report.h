// `ubp report`: a results database turned into report.md, index.html, tables/<name>.csv and
// .tex for each paper table that has rows (accuracy, paired differences, latency, selection,
// one run's layers), and figures/<id>.svg, .png, .dat, .gp for each figure with points.
// report.md opens with the Claims section (claims.h; also tables/claims.csv) and ends with every
// run listed per experiment kind.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ubp/reports/claims.h"
#include "ubp/reports/report_figures.h"
#include "ubp/reports/table.h"
#include "ubp/reports/tables.h"
#include "ubp/results/store.h"

namespace ubp::reports {

struct ReportOptions {
  std::string out_dir;
  std::vector<WhereClause> where;   // --where KEY=VALUE
  std::vector<std::string> group_by;  // --group-by: the accuracy table's axes; empty: the defaults
  std::string metric = "top1";      // --metric: the accuracy and paired tables' value (claims: top1)
  std::string run;                  // --run: the run whose layers get a table; empty: none
  bool figures = true;              // draw the figures with gnuplot (--no-figures: skip)
  bool html = true;                 // write index.html
};

struct ReportSummary {
  std::string report_path;
  size_t runs = 0;              // after --where
  size_t runs_in_database = 0;  // before
  size_t tables = 0;            // paper tables written (non-empty ones)
  std::vector<std::string> table_names;
  std::vector<std::string> files;  // everything written, report.md first
  std::string claims_csv;          // tables/claims.csv, written for every report
  std::vector<std::pair<std::string, Verdict>> claim_verdicts;  // each claim's key and verdict
  std::vector<std::string> figure_names;
  // Figures that could not be drawn (no gnuplot, gnuplot failed): one message each. The tables
  // are written regardless; report.md and index.html say which figure is missing and why.
  std::vector<std::string> figure_errors;
  std::string index_path;  // empty when options.html is false
};

// The tables a report shows, built but not written: for `write_report`, and for callers that
// render them elsewhere (index.html). Throws ReportError for an empty database, a filter that
// keeps no run (naming the filter and the number of runs before it), an unknown --where or
// --group-by key, or an unknown --run.
struct ReportContent {
  std::vector<RunData> all_runs;
  std::vector<RunData> runs;  // after the filter
  std::vector<Claim> claims;  // every claim of the paper, judged on `runs`
  std::vector<Table> tables;  // non-empty paper tables, in report order
  std::vector<ReportFigure> figures;  // figures with points, in report order
};
ReportContent build_report(const results::Store& store, const ReportOptions& options);

// Writes <out_dir>/report.md, tables/<name>.csv and .tex, figures/ and index.html (creating the
// folders). Nothing is written when build_report throws. Throws ReportError when a file cannot
// be written; a figure gnuplot cannot draw is reported in the summary instead.
ReportSummary write_report(const results::Store& store, const ReportOptions& options);

}  // namespace ubp::reports
