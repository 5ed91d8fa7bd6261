#include "config/config_error.h"

namespace ubp::config {

std::string SourceLocation::describe() const {
  if (file.empty()) return "<unknown>";
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  return out;
}

std::string ConfigIssue::format() const {
  std::string out = where.describe() + ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

namespace {
std::string join_issues(const std::vector<ConfigIssue>& issues) {
  std::string out;
  for (const auto& issue : issues) {
    if (!out.empty()) out += "\n";
    out += issue.format();
  }
  return out;
}
}  // namespace

namespace {
// At most this many problems are kept; the rest are counted in one last issue, so a file of a
// million mistakes gives a readable message.
constexpr size_t kMaxIssues = 60;

std::vector<ConfigIssue> capped(std::vector<ConfigIssue> issues) {
  if (issues.size() <= kMaxIssues) return issues;
  const size_t dropped = issues.size() - (kMaxIssues - 1);
  SourceLocation where = issues.front().where;
  where.line = where.column = 0;
  issues.resize(kMaxIssues - 1);
  issues.push_back(ConfigIssue{where, "", "and " + std::to_string(dropped) + " more problems (not listed)"});
  return issues;
}
}  // namespace

ConfigError::ConfigError(std::vector<ConfigIssue> issues)
    : ConfigError(capped(std::move(issues)), 0) {}

ConfigError::ConfigError(std::vector<ConfigIssue> issues, int)
    : support::Error(support::ErrorKind::kConfig, join_issues(issues)), issues_(std::move(issues)) {}

}  // namespace ubp::config
