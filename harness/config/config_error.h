// Where a config value came from, and the errors that point back to it.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "ubp/support/error.h"

namespace ubp::config {

// A position in a YAML file (1-based line and column), or a command-line override.
struct SourceLocation {
  std::string file;  // path as given or resolved; "<command line>" for overrides
  int line = 0;      // 0 when unknown
  int column = 0;
  std::string describe() const;  // "configs/a.yaml:12:5" or "command line"
};

// One problem found in a config: where, which dotted key, and what is wrong / accepted.
struct ConfigIssue {
  SourceLocation where;
  std::string key;      // dotted path, may be empty for file-level problems
  std::string message;  // e.g. "value 1.5 is out of range; accepted: a number in [0, 1]"
  std::string format() const;  // "file:line:col: key: message"
};

// Thrown with every problem found at once (at most 60: past that, the last issue counts the
// rest); what() is one line per issue. Its kind is kConfig (exit status 2).
class ConfigError : public support::Error {
 public:
  explicit ConfigError(std::vector<ConfigIssue> issues);
  explicit ConfigError(ConfigIssue issue) : ConfigError(std::vector<ConfigIssue>{std::move(issue)}) {}
  const std::vector<ConfigIssue>& issues() const { return issues_; }

 private:
  ConfigError(std::vector<ConfigIssue> issues, int already_capped);
  std::vector<ConfigIssue> issues_;
};

}  // namespace ubp::config
