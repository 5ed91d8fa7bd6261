#include "ubp/reports/code_versions.h"

#include <map>

namespace ubp::reports {

std::vector<const RunData*> runs_behind(const Table& table, const std::vector<RunData>& runs,
                                        const std::string& metric) {
  std::vector<const RunData*> behind;
  for (const auto& run : runs) {
    if (!run.done()) continue;
    const bool uses_metric = table.name == "accuracy" || table.name == "paired";
    const bool used = uses_metric                 ? run.metrics.count(metric) != 0
                      : table.name == "latency"   ? !run.latency.empty()
                      : table.name == "selection" ? !run.layers.empty()
                                                  : table.name == "layers-" + run.row.run_id;
    if (used) behind.push_back(&run);
  }
  return behind;
}

std::optional<std::string> code_version_note(const std::vector<const RunData*>& runs) {
  std::map<results::CodeVersion, size_t> versions;
  for (const RunData* run : runs) ++versions[run->row.code];
  if (versions.size() < 2) return std::nullopt;
  std::string note = "Rows come from " + std::to_string(versions.size()) + " code versions: ";
  bool first = true;
  for (const auto& [code, count] : versions) {
    note += (first ? "" : "; ") + code.describe() + " (" + std::to_string(count) + " run" + (count == 1 ? "" : "s") +
            ")";
    first = false;
  }
  return note + ". Results of different code may not compare.";
}

void note_code_versions(Table& table, const std::vector<RunData>& runs, const std::string& metric) {
  if (const auto note = code_version_note(runs_behind(table, runs, metric))) table.notes.push_back(*note);
}

}  // namespace ubp::reports
