// The report's run listing (one table per experiment kind, runs as rows, only the parameters
// that vary as columns) and the pre-issue-7 entry point, kept for callers that want a report
// with the default options.
#pragma once

#include <string>
#include <vector>

#include "ubp/reports/report.h"

namespace ubp::reports {

// Markdown for every run of `runs` (any status), one "### <kind> (N runs)" section per kind:
// the fixed parameters on a line, the varying ones and the final metrics as columns, a
// per-method mean when methods are compared, the failed runs' errors.
std::string run_listing_markdown(const std::vector<RunData>& runs);

// write_report with the default options (no filter, default axes, no per-layer table).
ReportSummary write_markdown_report(const results::Store& store, const std::string& out_dir);

}  // namespace ubp::reports
