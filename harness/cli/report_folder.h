// Where `ubp run` and `ubp report` put a report, and how a new report replaces an old one.
#pragma once

#include <string>

#include "ubp/reports/report.h"
#include "ubp/results/store.h"

namespace ubp::cli {

// The report folder of `ubp run CONFIG --db DB` when neither --report nor a config without
// output.report says otherwise: beside the database, <db dir>/<db file name without .db>-report,
// so that two databases never share one report folder.
std::string report_dir_beside(const std::string& db);

// Writes the report into a fresh hidden folder beside options.out_dir, then swaps it with
// out_dir in one rename (renameat2 RENAME_EXCHANGE; two renames where the file system cannot
// exchange) and deletes the old report. A reader sees the old report or the new one, never a
// mix, and no file of an earlier report survives. When the report cannot be built (an empty
// database, a --where that keeps nothing) the old report stays as it was. A symbolic link is
// followed (the folder it points to is replaced; the link stays), and a folder that holds files
// but no report.md is refused. The summary names the report folder. Throws reports::ReportError.
reports::ReportSummary write_report_replacing(const results::Store& store, reports::ReportOptions options);

}  // namespace ubp::cli
