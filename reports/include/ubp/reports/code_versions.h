// Which code a table's rows come from: a report table built from runs of more than one code
// version (ubp version, git commit, dirty tree, build type; results/code_version.h) says so
// in a note below it, so that results from before and after a fix do not mix silently.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ubp/reports/table.h"
#include "ubp/reports/tables.h"

namespace ubp::reports {

// The runs a paper table is built from: done runs with `metric` (accuracy, paired), with latency
// records (latency), with layer records (selection), or the one run of a layer table.
std::vector<const RunData*> runs_behind(const Table& table, const std::vector<RunData>& runs,
                                        const std::string& metric);

// "Rows come from 2 code versions: ... (20 runs); ... (4 runs). ..." when `runs` were last run
// by more than one code version; nothing otherwise.
std::optional<std::string> code_version_note(const std::vector<const RunData*>& runs);

// Adds code_version_note of the table's runs to its notes, when there is one.
void note_code_versions(Table& table, const std::vector<RunData>& runs, const std::string& metric);

}  // namespace ubp::reports
