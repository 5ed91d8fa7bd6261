// From a config file and command-line overrides to the list of runs it asks for.
//
// The `sweep:` section maps dotted keys to lists of values; the runs are their cartesian
// product, in the order the keys were written. Each run's resolved config (every default
// filled in, values canonical) is serialised as canonical JSON (sorted keys, no spaces), and
// its run id is a content hash of the part of it that defines the experiment, so the same
// experiment always gets the same id, whichever file, include or override it came from.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/document.h"
#include "config/schema.h"

namespace ubp::config {

struct PlannedRun {
  size_t index = 0;     // position in the plan, 0-based
  std::string run_id;   // 16 hex digits of SHA-256 over the identity JSON
  std::string kind;     // experiment.kind
  nlohmann::json resolved;  // every key of the kind, sorted
  std::string resolved_json;  // canonical serialisation of `resolved`
  std::vector<std::pair<std::string, Json>> assignment;  // this run's sweep values
  std::string label() const;  // "prune.sparsity=0.8 prune.block=[4,1]", or "(no sweep)"
};

struct Plan {
  std::string config_path;
  std::vector<PlannedRun> runs;
  size_t duplicates_dropped = 0;  // sweep points that resolved to an already planned run
  // Values of campaign-wide keys (not sweepable, not part of any run's identity), taken from
  // the base config, e.g. output.db.
  nlohmann::json campaign;
  // Accepted but deprecated values (Schema::deprecations), each with its file:line:column; the
  // commands print them as warnings.
  std::vector<ConfigIssue> warnings;
};

// Keys, types and defaults of every ubp config (config/ubp_schema.cpp).
const Schema& ubp_schema();

// Loads, overrides, validates (all problems reported together in one ConfigError) and
// expands. Nothing is executed and nothing is written.
Plan make_plan(const std::string& config_path, const std::vector<std::string>& overrides,
               const Schema& schema = ubp_schema());
Plan make_plan(ConfigDocument doc, const std::vector<std::string>& overrides, const Schema& schema);

// Run id of a resolved config: SHA-256 over "ubp-run-v1\n" + canonical identity JSON,
// the first 16 hex digits.
std::string run_id_of(const nlohmann::json& resolved, const Schema& schema);

// Lowercase hex SHA-256.
std::string sha256_hex(const std::string& bytes);

// `resolved` flattened to dotted keys (lists stay values), for the params table.
std::vector<std::pair<std::string, nlohmann::json>> flatten(const nlohmann::json& resolved);

}  // namespace ubp::config
