// report.md: one table per experiment kind, runs as rows, only the parameters that vary as
// columns (the fixed ones on a line above the table), then the run's final metrics.
#pragma once

#include <stdexcept>
#include <string>

#include "ubp/results/store.h"

namespace ubp::reports {

class ReportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ReportSummary {
  std::string report_path;
  size_t runs = 0;
  size_t tables = 0;
};

// Writes <out_dir>/report.md (creating out_dir). Throws ReportError when the database holds
// no runs (nothing is written then) or the folder cannot be written.
ReportSummary write_markdown_report(const results::Store& store, const std::string& out_dir);

// A metric value as a table shows it: integers plainly, others with 4 decimals or 3
// significant digits when small.
std::string format_number(double value);

}  // namespace ubp::reports
